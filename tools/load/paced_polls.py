#!/usr/bin/env python3
"""Status-poll latency at a fixed rate: CLIENTS keep-alive connections each GET a URL every
INTERVAL seconds (the way pages and SDKs poll a job), for SECONDS; prints the request count and
the latency percentiles. Unlike wrk it does not poll flat out, so it shows what a poll costs a
client while the service is busy with jobs rather than how many polls the service can absorb.
Usage: tools/load/paced_polls.py URL [seconds, default 20] [clients, default 8] [interval, default 0.05]"""
import http.client, statistics, sys, threading, time
from urllib.parse import urlsplit


def poll(url, seconds, interval, offset, out):
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    path = u.path + (f"?{u.query}" if u.query else "")
    start = time.perf_counter() + offset
    end = start + seconds
    k = 0
    while True:
        due = start + k * interval
        if due >= end:
            break
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        t0 = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status}")
        out.append(time.perf_counter() - t0)
        k += 1
    conn.close()


def main():
    url = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 20
    clients = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    interval = float(sys.argv[4]) if len(sys.argv) > 4 else 0.05
    results = [[] for _ in range(clients)]
    threads = [threading.Thread(target=poll, args=(url, seconds, interval, i * interval / clients, results[i]))
               for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times = sorted(x for r in results for x in r)
    q = statistics.quantiles(times, n=100)
    print(f"  {len(times)} polls ({clients} clients, one per {interval * 1000:.0f} ms each): "
          f"p50 {q[49] * 1000:.2f} ms, p90 {q[89] * 1000:.2f} ms, p99 {q[98] * 1000:.2f} ms, max {times[-1] * 1000:.2f} ms")


if __name__ == "__main__":
    main()
