"""Every operation of a running `segserve serve` answered as openapi.yaml says: declared status,
declared media type, and a JSON body that validates against the operation's schema."""
import json
import re
import urllib.error
import urllib.request

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from segtools.testing import SPEC_PATH, multipart, png, serve

SPEC = yaml.safe_load(open(SPEC_PATH))
BASE = "urn:segserve:openapi"
REGISTRY = Registry().with_resource(BASE, Resource.from_contents(SPEC, default_specification=DRAFT202012))


def test_spec_is_valid_openapi_31():
    validate_spec(SPEC)


@pytest.fixture(scope="module")
def server():
    with serve(QUEUE_MAX_QUEUED=2) as (base, _):
        yield base


def call(base, method, path, body=None, headers=None):
    request = urllib.request.Request(base + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def pointer(*parts):
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def at(ref):
    """The spec node at a JSON pointer, following $refs; returns (pointer, node)."""
    node = REGISTRY.resolver(base_uri=BASE).lookup(BASE + ref).contents
    while "$ref" in node:
        ref = node["$ref"]
        node = REGISTRY.resolver(base_uri=BASE).lookup(BASE + ref).contents
    return ref, node


def operation_for(method, path):
    """The pointer to the spec's operation for a concrete path, and its template."""
    for template, item in SPEC["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path.split("?")[0]) and method.lower() in item:
            return template, pointer("paths", template, method.lower())
    raise AssertionError(f"{method} {path} is not in openapi.yaml")


def checked(base, method, path, body=None, headers=None, expect=None):
    """Calls the server and checks the answer against the spec; returns (status, headers, body)."""
    status, response_headers, data = call(base, method, path, body, headers)
    if expect is not None:
        assert status == expect, f"{method} {path}: {status} {data[:300]!r}"
    template, operation = operation_for(method, path)
    responses = at(operation)[1]["responses"]
    if str(status) in responses:
        ref, declared = at(operation[:] + "/responses/" + str(status))
    else:
        # Statuses any route can give (unknown id, wrong method, framing, size) are problems.
        assert status in {404, 405, 411, 413, 500}, f"{method} {template}: status {status} is not declared"
        ref, declared = at("#/components/responses/Problem")
    media_type = response_headers.get("Content-Type", "").split(";")[0]
    content = declared.get("content", {})
    if not content:
        assert data == b"" and not media_type, f"{method} {template} {status}: a body where none is declared"
        return status, response_headers, data
    assert media_type in content, f"{method} {template} {status}: {media_type} not among {list(content)}"
    if media_type.endswith("json") and "schema" in content[media_type]:
        schema_ref = ref + "/content/" + media_type.replace("/", "~1") + "/schema"
        errors = sorted(Draft202012Validator({"$ref": BASE + schema_ref}, registry=REGISTRY).iter_errors(json.loads(data)), key=str)
        assert not errors, f"{method} {template} {status}: {errors[0].message} at {list(errors[0].path)}"
    for name in declared.get("headers", {}):
        assert name in response_headers, f"{method} {template} {status}: header {name} missing"
    return status, response_headers, data


def test_every_operation_conforms(server):
    image = png()
    status, headers, data = checked(server, "POST", "/v1/segmentations?seed=2", image, {"Content-Type": "image/png"}, 202)
    job = json.loads(data)
    checked(server, "GET", f"/v1/jobs/{job['id']}", headers={"Prefer": "wait=30"}, expect=200)
    for part in ("panoptic.png", "segments.json", "overlay.png"):
        checked(server, "GET", f"/v1/jobs/{job['id']}/{part}", expect=200)

    body, form = multipart([("image", "image/png", image), ("options", "application/json", b'{"steps": 2}')])
    checked(server, "POST", "/v1/segmentations", body, dict(form, Prefer="wait=30"), 200)
    mask = png(fill=(5, 0, 0))
    body, form = multipart([("image", "image/png", image), ("mask", "image/png", mask),
                            ("known", "image/png", png(mode="L", fill=255))])
    checked(server, "POST", "/v1/inpaintings", body, dict(form, Prefer="wait=30"), 200)
    checked(server, "GET", "/v1/jobs?limit=1", expect=200)
    checked(server, "GET", "/v1/jobs?state=succeeded&kind=inpainting", expect=200)
    checked(server, "GET", "/v1/models", expect=200)
    checked(server, "GET", "/healthz", expect=200)
    checked(server, "GET", "/readyz", expect=200)
    checked(server, "GET", "/metrics", expect=200)
    checked(server, "GET", "/openapi.yaml", expect=200)
    checked(server, "GET", "/", expect=200)
    checked(server, "GET", "/ui/app.js", expect=200)
    checked(server, "GET", "/ui/nothing.js", expect=404)
    _, _, events = checked(server, "GET", f"/v1/jobs/{job['id']}/events", expect=200)
    assert b"event: done" in events
    checked(server, "GET", f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": events.decode().split("id: ")[-1].split()[0]},
            expect=204)

    # A long job to cancel, a queued one behind it, and a full queue.
    status, _, data = checked(server, "POST", "/v1/segmentations?steps=1000&resolution=256", image, {"Content-Type": "image/png"}, 202)
    long_id = json.loads(data)["id"]
    queued = [json.loads(checked(server, "POST", f"/v1/segmentations?seed={s}", image, {"Content-Type": "image/png"}, 202)[2])["id"]
              for s in (10, 11)]
    status, headers, _ = checked(server, "POST", "/v1/segmentations?seed=12", image, {"Content-Type": "image/png"}, 429)
    for job_id in queued + [long_id]:
        checked(server, "DELETE", f"/v1/jobs/{job_id}", expect=200)
    checked(server, "DELETE", f"/v1/jobs/{queued[0]}", expect=409)
    checked(server, "GET", f"/v1/jobs/{queued[0]}/panoptic.png", expect=409)


def test_errors_conform(server):
    image = png()
    checked(server, "GET", "/v1/jobs/none", expect=404)
    checked(server, "DELETE", "/v1/jobs/none", expect=404)
    checked(server, "GET", "/v1/jobs/none/segments.json", expect=404)
    checked(server, "GET", "/v1/jobs?limit=500", expect=400)
    checked(server, "POST", "/v1/segmentations", b"GIF89a", {"Content-Type": "image/gif"}, 415)
    checked(server, "POST", "/v1/segmentations", image[:40], {"Content-Type": "image/png"}, 422)
    checked(server, "POST", "/v1/segmentations?steps=0", image, {"Content-Type": "image/png"}, 400)
    body, form = multipart([("image", "image/png", image), ("mask", "image/png", png(8, 8, fill=(1, 0, 0)))])
    checked(server, "POST", "/v1/inpaintings", body, form, 422)
    checked(server, "POST", "/v1/inpaintings", image, {"Content-Type": "image/png"}, 415)
    status, headers, _ = call(server, "PUT", "/v1/jobs/x", b"", {})
    assert status == 405 and headers.get("Allow") == "DELETE, GET, HEAD"
