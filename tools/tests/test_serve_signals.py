"""`segserve serve` under swift-service-lifecycle's signal handling (release build, tiny model):
SIGTERM drains, letting a running job finish; SIGINT, also during a drain, sends it back to the
queue at once. Either way the process exits 0."""
import json
import signal
import time
import urllib.request

from segtools.testing import multipart, png, serve

# Many runs of the tiny model: a job that runs for seconds.
SLOW = {"steps": 50, "resolution": 384, "ensemble_seeds": 4, "flip": True}


def submit_slow(base):
    body, headers = multipart([("image", "image/png", png()), ("options", "application/json", json.dumps(SLOW).encode())])
    req = urllib.request.Request(base + "/v1/segmentations", data=body, method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())["id"]


def wait_running(base, job):
    deadline = time.time() + 30
    while time.time() < deadline:
        with urllib.request.urlopen(f"{base}/v1/jobs/{job}", timeout=10) as r:
            if json.loads(r.read())["state"] == "running":
                return
        time.sleep(0.05)
    raise AssertionError("the job did not start")


def test_one_sigterm_lets_the_running_job_finish():
    with serve("release", limits_max_job_cost=10**9, drain_timeout=120) as (base, proc):
        job = submit_slow(base)
        wait_running(base, job)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=180) == 0
        log = proc.log()
        assert "draining" in log and "stopped" in log
        assert "state=succeeded" in log, log[-2000:]


def test_sigint_during_a_drain_sends_the_running_job_back_to_the_queue():
    with serve("release", limits_max_job_cost=10**9) as (base, proc):
        job = submit_slow(base)
        wait_running(base, job)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        started = time.time()
        assert proc.wait(timeout=60) == 0
        log = proc.log()
        assert "stopping now: running jobs go back to the queue" in log, log[-2000:]
        assert "job interrupted by shutdown; queued again" in log, log[-2000:]
        assert "state=succeeded" not in log
        assert time.time() - started < 10


def test_sigint_stops_a_running_job_at_once():
    with serve("release", limits_max_job_cost=10**9) as (base, proc):
        wait_running(base, submit_slow(base))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        log = proc.log()
        assert "job interrupted by shutdown; queued again" in log and "state=succeeded" not in log, log[-2000:]
