"""Three segserve nodes on one PostgreSQL job store, with faults (release build, tiny model):
a node killed mid-job (kill -9), a node stopped past its lease and resumed (SIGSTOP, SIGCONT),
and the database restarted mid-run. Every acknowledged job must end exactly once, succeeded,
with its result intact; the resumed node's late completion must be refused."""
import io
import json
import os
import re
import signal
import subprocess
import time
import urllib.request

from PIL import Image

from segtools.testing import REPO, SPEC_PATH, TINY_MODEL, binary, png, postgres

JOBS = 30
LEASE_TTL = 3.0


class Node:
    def __init__(self, name, url, folder, **settings):
        self.name = name
        self.log_path = os.path.join(folder, f"{name}.log")
        env = dict(os.environ, SEGSERVE_MODEL=TINY_MODEL, SEGSERVE_DATABASE_URL=url, SEGSERVE_OPENAPI_PATH=SPEC_PATH,
                   SEGSERVE_WEB_ROOT=os.path.join(REPO, "web"), SEGSERVE_WORKERS_THREADS="1",
                   SEGSERVE_QUEUE_LEASE_TTL=str(LEASE_TTL), SEGSERVE_QUEUE_MAX_ATTEMPTS="6", SEGSERVE_LOG_LEVEL="info")
        env.update({f"SEGSERVE_{k.upper()}": str(v) for k, v in settings.items()})
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([binary("release"), "serve", "--port", "0"], cwd=folder, env=env,
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.time() + 60
        self.base = None
        while self.base is None and time.time() < deadline:
            match = re.search(r"address=127\.0\.0\.1:(\d+)", self.text())
            self.base = f"http://127.0.0.1:{match.group(1)}" if match else None
            time.sleep(0.05)
        assert self.base, f"{name} did not start: {self.text()}"

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def started(self):
        return self.text().count("job started")

    def request(self, method, path, body=None, headers=None, timeout=10):
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()


def wait_until(condition, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_three_nodes_one_queue_through_kill_stop_and_database_restart(tmp_path):
    with postgres() as pg:
        database, url = pg.new_database()
        nodes = [Node(f"node{i}", url, str(tmp_path)) for i in range(3)]
        try:
            start = time.time()
            ids, image = [], png(48, 32, fill=(120, 30, 200))
            for i in range(JOBS):
                status, body = nodes[i % 3].request("POST", "/v1/segmentations?steps=1000&seed=%d" % i, image, {"Content-Type": "image/png"})
                assert status == 202
                ids.append(json.loads(body)["id"])

            # kill -9 a node while it runs a job.
            victim = nodes[0]
            wait_until(lambda: victim.started() > victim.text().count("job ended"), 30, "node0 to run a job")
            victim.proc.kill()
            victim.proc.wait()

            # Stop a node past its lease, let the others take its job, then resume it.
            stalled = nodes[1]
            wait_until(lambda: stalled.started() > stalled.text().count("job ended"), 30, "node1 to run a job")
            stalled.proc.send_signal(signal.SIGSTOP)
            time.sleep(LEASE_TTL * 4)
            stalled.proc.send_signal(signal.SIGCONT)

            # Restart the database mid-run.
            time.sleep(1)
            pg.stop("fast")
            time.sleep(1)
            pg.start()

            survivors = nodes[1:]

            def states():
                _, body = survivors[-1].request("GET", f"/v1/jobs?limit={JOBS + 10}")
                return {j["id"]: j for j in json.loads(body)["jobs"]}

            def all_ended():
                try:
                    return all(j["state"] in ("succeeded", "failed", "canceled") for j in states().values())
                except Exception:
                    return False

            wait_until(all_ended, 240, "every job to end")
            elapsed = time.time() - start
            jobs = states()
            assert sorted(jobs) == sorted(ids), "every acknowledged job is still known"
            failed = {i: j.get("error") for i, j in jobs.items() if j["state"] != "succeeded"}
            assert not failed, f"jobs did not succeed: {failed}"
            for i in ids:
                _, result = survivors[0].request("GET", f"/v1/jobs/{i}/panoptic.png")
                assert Image.open(io.BytesIO(result)).size == (48, 32)
            # Exactly once: one result row per job, and the store saw no second completion.
            rows = pg.sql("SELECT COUNT(*), COUNT(DISTINCT job_seq) FROM job_result", database)
            assert rows == [[str(JOBS), str(JOBS)]]
            attempts = sum(int(r[0]) for r in pg.sql("SELECT attempts FROM job", database))
            stalled_log = stalled.text()
            assert "lease taken over" in stalled_log or "outcome is refused" in stalled_log, \
                "the resumed node learned it had lost its job"
            requeued = sum(n.text().count("requeued jobs whose lease lapsed") for n in survivors)
            print(f"\n{JOBS} jobs on 3 nodes through kill -9, SIGSTOP/SIGCONT and a database restart: "
                  f"all succeeded once in {elapsed:.1f} s; {attempts} starts in all; {requeued} sweeps requeued lapsed leases")
        finally:
            for n in nodes:
                if n.proc.poll() is None:
                    n.proc.send_signal(signal.SIGCONT)
                    n.proc.terminate()
                    try:
                        n.proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        n.proc.kill()
