"""clients/python (segserve_client) against a live release server on the tiny model: results
as NumPy and PIL, the asyncio twin, typed problems, idempotency, pages, cancelling, retries
after Retry-After, and waiting by polling when no event stream is free."""
import asyncio
import os
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest
import yaml

import segserve_client
from segserve_client import (AsyncClient, BadRequestError, Client, JobFailedError, NotFoundError,
                             RateLimitedError, UnprocessableError)
from segtools.testing import REPO, SPEC_PATH, png, serve

WIDTH, HEIGHT = 72, 48
# A job of about 20 s on 2 cores, for as long as a test needs one running.
LONG = dict(steps=1000, resolution=256, ensemble_seeds=2)


@pytest.fixture(scope="module")
def base():
    with serve("release") as (url, _):
        yield url


def test_version_follows_the_api():
    with open(SPEC_PATH) as f:
        assert segserve_client.__version__ == yaml.safe_load(f)["info"]["version"]


def test_the_client_type_checks_strictly(tmp_path):
    """It ships py.typed, so its annotations are a promise to its users' type checkers."""
    source = os.path.join(REPO, "clients", "python", "src", "segserve_client")
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path), source],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_segment_wait_and_results(base):
    with Client(base) as client:
        job = client.segment(png(WIDTH, HEIGHT), steps=2, ensemble_seeds=1, flip=False)
        assert job.state in ("queued", "running", "succeeded") and job.options["steps"] == 2
        assert job.wait(timeout=60) is job and job.state == "succeeded" and job.done
        ids = job.panoptic()
        assert ids.shape == (HEIGHT, WIDTH) and ids.dtype == np.uint32
        segments = job.segments()
        assert {s["id"] for s in segments} == set(np.unique(ids).tolist()) - {0}
        assert sum(s["area"] for s in segments) == int((ids != 0).sum())
        assert job.overlay().size == (WIDTH, HEIGHT)
        assert all(0 <= s["score"] <= 1 for s in segments)
        uncertainty = job.uncertainty()
        assert uncertainty.size == (WIDTH, HEIGHT) and uncertainty.mode == "L"
        dropped = client.segment(png(WIDTH, HEIGHT), steps=2, ensemble_seeds=1, flip=False, min_score=1.0).wait(timeout=60)
        assert dropped.options["min_score"] == 1.0 and all(s["score"] >= 1.0 for s in dropped.segments())
        assert client.job(job.id).state == "succeeded"
        assert client.models()[0]["name"] == "tiny-random"


def test_results_wait_for_the_job_and_images_of_any_kind(base):
    rgb = np.random.default_rng(0).integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    with Client(base) as client:
        job = client.segment(rgb, wait=30, steps=2)  # an array goes as PNG
        assert job.panoptic().shape == (HEIGHT, WIDTH)


def test_inpainting_keeps_the_known_pixels(base):
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint32)
    mask[:, : WIDTH // 2] = 7
    with Client(base) as client:
        ids = client.inpaint(png(WIDTH, HEIGHT), mask, known=mask != 0, steps=2).panoptic()
    assert (ids[:, : WIDTH // 2] == 7).all()


def test_problems_are_typed_exceptions(base):
    with Client(base) as client:
        with pytest.raises(BadRequestError) as bad:
            client.segment(png(), steps=0)
        assert bad.value.status == 400 and bad.value.type.startswith("/problems/") and bad.value.detail
        with pytest.raises(NotFoundError) as missing:
            client.job("no-such-job")
        assert missing.value.status == 404 and missing.value.type == "/problems/not-found"
        with pytest.raises(UnprocessableError):
            client.segment(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
        with pytest.raises(ValueError):
            client.segment(b"neither PNG nor JPEG nor anything Pillow reads")


def test_cancel_and_a_canceled_job_has_no_results(base):
    with Client(base) as client:
        job = client.segment(png(), **LONG)
        job.cancel()
        with pytest.raises(JobFailedError) as failed:
            job.panoptic()
        assert failed.value.state == "canceled" and job.state == "canceled"


def test_idempotency_keys_by_default_and_by_choice(base):
    with Client(base) as client:
        image = png(fill=(10, 20, 30))
        assert client.segment(image, steps=1).id != client.segment(image, steps=1).id
        first = client.segment(image, steps=1, idempotency_key="client-test-key")
        assert client.segment(image, steps=1, idempotency_key="client-test-key").id == first.id


def test_jobs_iterates_every_page(base):
    with Client(base) as client:
        mine = {client.segment(png(), steps=1).id for _ in range(3)}
        seen = [job.id for job in client.jobs(page_size=1)]
        assert mine <= set(seen) and len(seen) == len(set(seen))
        assert all(job.kind == "inpainting" for job in client.jobs(kind="inpainting", page_size=2))


def test_async_twin(base):
    async def run():
        async with AsyncClient(base) as client:
            job = await client.segment(png(WIDTH, HEIGHT), steps=2)
            await job.wait(timeout=60)
            ids = await job.panoptic()
            segments = await job.segments()
            overlay = await job.overlay()
            listed = [j.id async for j in client.jobs(page_size=2)]
            return job, ids, segments, overlay, listed
    job, ids, segments, overlay, listed = asyncio.run(run())
    assert job.state == "succeeded" and ids.shape == (HEIGHT, WIDTH) and overlay.size == (WIDTH, HEIGHT)
    assert {s["id"] for s in segments} == set(np.unique(ids).tolist()) - {0} and job.id in listed


def test_a_full_queue_is_retried_after_retry_after():
    with serve("release", queue_max_queued=1) as (url, _), Client(url, max_retry_delay=1) as client:
        running = client.segment(png(), **LONG)
        queued = client.segment(png(), **LONG)
        with pytest.raises(RateLimitedError) as full, Client(url, max_retries=0) as impatient:
            impatient.segment(png(), steps=1)
        assert full.value.type == "/problems/queue-full" and full.value.retry_after is not None
        # The place frees while the client waits: its retry gets the job in.
        threading.Timer(1.5, queued.cancel).start()
        started = time.monotonic()
        job = client.segment(png(), steps=1)
        assert time.monotonic() - started >= 1.0
        assert client.job(job.id).id == job.id
        running.cancel()  # a running job: it ends at its next step


def test_wait_polls_when_no_event_stream_is_free():
    with serve("release", server_max_event_streams=1) as (url, _), Client(url) as client:
        # Seconds of work, so the held stream (and its slot) outlasts the client's request for one.
        job = client.segment(png(), steps=300, resolution=256)
        with httpx.stream("GET", f"{url}/v1/jobs/{job.id}/events", timeout=30) as held:
            assert held.status_code == 200
            assert job.wait(timeout=60).state == "succeeded"
        metrics = client.request("GET", "/metrics").text
        assert 'route="/v1/jobs/{id}/events",status="503"} 1' in metrics
