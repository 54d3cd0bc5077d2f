"""Starts a real `segserve serve` on a free loopback port for the Python tests."""
import contextlib
import os
import re
import select
import signal
import subprocess
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SPEC_PATH = os.path.join(REPO, "openapi.yaml")
TINY_MODEL = os.path.join(REPO, "Tests", "LDMSegTests", "Fixtures", "tiny_model")


def binary(configuration):
    """`.build/<configuration>/segserve`, which `make test` builds."""
    path = os.path.join(REPO, ".build", configuration, "segserve")
    assert os.access(path, os.X_OK), f"{path} is missing: run `make test` (it builds debug and release)"
    return path


@contextlib.contextmanager
def serve(configuration="debug", **settings):
    """Yields (base URL, process) of a server (the tiny model unless `model=` names another);
    `settings` become SEGSERVE_* variables.
    Stops it with SIGTERM and checks it exits cleanly."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, SEGSERVE_MODEL=TINY_MODEL, SEGSERVE_DATABASE=os.path.join(tmp, "jobs.sqlite"),
                   SEGSERVE_OPENAPI_PATH=SPEC_PATH, SEGSERVE_WEB_ROOT=os.path.join(REPO, "web"), SEGSERVE_WORKERS_THREADS="1")
        env.update({f"SEGSERVE_{k.upper()}": str(v) for k, v in settings.items()})
        proc = subprocess.Popen([binary(configuration), "serve", "--port", "0"], cwd=tmp, env=env,
                                stderr=subprocess.PIPE, text=True)
        try:
            port, seen, deadline = None, "", time.time() + 60
            while port is None and time.time() < deadline and proc.poll() is None:
                ready, _, _ = select.select([proc.stderr], [], [], 1)
                if ready:
                    seen += proc.stderr.readline()
                    match = re.search(r"address=127\.0\.0\.1:(\d+)", seen)
                    port = int(match.group(1)) if match else None
            assert port, f"segserve did not start: {seen}"
            yield f"http://127.0.0.1:{port}", proc
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
