"""Scaling on one PostgreSQL job store (release build, the default model and options): default
segmentations per minute with 1 and then 2 worker nodes of 1 thread each behind one API node,
8 clients submitting a 512x512 photo and waiting for its result; then status polls of a
finished job on the API node (wrk -c64, at nice 19 like remote clients).
Usage: python3 tools/load/scaling.py [seconds per run, default 60]"""
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

from PIL import Image

from segtools.testing import PHOTOS, REPO, binary, postgres


def start(url, folder, name, role, port=0):
    log = open(os.path.join(folder, name + ".log"), "w")
    env = dict(os.environ, SEGSERVE_DATABASE_URL=url, SEGSERVE_ROLE=role, SEGSERVE_WORKERS_THREADS="1",
               SEGSERVE_QUEUE_MAX_QUEUED="1000")
    proc = subprocess.Popen([binary("release"), "serve", "--port", str(port)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log)
    for _ in range(600):
        match = re.search(r"address=127\.0\.0\.1:(\d+)", open(log.name).read())
        if match:
            return proc, f"http://127.0.0.1:{match.group(1)}"
        time.sleep(0.05)
    raise RuntimeError(open(log.name).read())


def photo():
    image = Image.open(PHOTOS[0]).convert("RGB")
    out = io.BytesIO()
    image.resize((512, 512)).save(out, format="PNG")
    return out.getvalue()


def per_minute(api, seconds, body, clients=8):
    done, stop = [], time.time() + seconds

    def client():
        while time.time() < stop:
            req = urllib.request.Request(api + "/v1/segmentations", data=body, headers={"Content-Type": "image/png", "Prefer": "wait=60"})
            job = json.loads(urllib.request.urlopen(req, timeout=120).read())
            while job["state"] not in ("succeeded", "failed", "canceled"):
                job = json.loads(urllib.request.urlopen(urllib.request.Request(api + f"/v1/jobs/{job['id']}", headers={"Prefer": "wait=60"}),
                                                        timeout=120).read())
            if time.time() < stop and job["state"] == "succeeded":
                done.append(time.time())

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 60 * len(done) / seconds, done


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60
    body = photo()
    with postgres() as pg:
        folder = pg.folder
        _, url = pg.new_database()
        api_proc, api = start(url, folder, "api", "api")
        workers = []
        try:
            rates = []
            for n in (1, 2):
                while len(workers) < n:
                    workers.append(start(url, folder, f"worker{len(workers)}", "worker")[0])
                per_minute(api, 10, body)  # warm-up: models loaded, queue drained
                rate, _ = per_minute(api, seconds, body)
                rates.append(rate)
                print(f"{n} worker node(s) x 1 thread: {rate:.1f} images/min", flush=True)
            print(f"scaling 1 -> 2 nodes: {rates[1] / rates[0]:.2f}x (ideal 2x)")
            jobs = json.loads(urllib.request.urlopen(api + "/v1/jobs?state=succeeded&limit=1").read())["jobs"]
            if shutil.which("wrk") and jobs:
                for w in workers:
                    w.terminate()
                    w.wait()
                workers = []
                out = subprocess.run(["nice", "-n", "19", "wrk", "-t2", "-c64", "-d10s", "--latency", f"{api}/v1/jobs/{jobs[0]['id']}"],
                                     capture_output=True, text=True).stdout
                rps = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
                p99 = re.search(r"99%\s+(\S+)", out).group(1)
                print(f"status polls on the PostgreSQL backend (API node, finished job, wrk -c64): {float(rps):,.0f} req/s, p99 {p99}")
        finally:
            for w in workers:
                w.terminate()
                w.wait()
            api_proc.terminate()
            api_proc.wait()


if __name__ == "__main__":
    main()
