"""Schemathesis against a running release server: generated requests from openapi.yaml, in a
bounded run, must get no 5xx and answers that conform to the spec (status, media type, schema,
headers). Schema-valid bodies that are not images are rightly refused, so the
positive-data-acceptance check is left out: a schema cannot say "a decodable PNG"."""
import shutil
import subprocess
import tempfile

from segtools.testing import SPEC_PATH, serve


def test_generated_requests_conform():
    cli = shutil.which("schemathesis")
    assert cli, "schemathesis is missing: make python-deps installs it"
    with serve("release", QUEUE_MAX_QUEUED=8) as (base, proc), tempfile.TemporaryDirectory() as scratch:
        run = subprocess.run([cli, "run", SPEC_PATH, "--url", base, "--checks", "all",
                              "--exclude-checks", "positive_data_acceptance", "--max-examples", "8",
                              "--phases", "examples,coverage,fuzzing", "--workers", "1", "--max-time", "45",
                              "--seed", "1", "--no-color"],
                             capture_output=True, text=True, timeout=300, cwd=scratch)
        assert proc.poll() is None, "the server died under generated requests"
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
