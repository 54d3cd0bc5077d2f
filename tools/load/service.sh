#!/usr/bin/env bash
# Load test of `segserve serve` with the embedded model: status polls (GET /v1/jobs/{id}) with
# wrk over keep-alive connections, first on an idle service, then while the worker runs jobs.
# Prints req/s and latency percentiles, and how many jobs finished meanwhile (and with no polls);
# last, polls at a steady pace (tools/load/paced_polls.py) while jobs run.
# SEGSERVE_* variables reach the server (e.g. SEGSERVE_SERVER_REQUEST_THREAD_NICE=0). wrk runs
# at nice 19, standing in for clients on other machines: its own CPU would otherwise count
# against the workers.
# Usage: tools/load/service.sh [seconds per run, default 10] [connections, default 64]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration="${1:-10}"
connections="${2:-64}"

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
swift build -c release --product segserve >/dev/null

dir="$(mktemp -d)"
SEGSERVE_DATABASE="$dir/jobs.sqlite" SEGSERVE_QUEUE_MAX_QUEUED=1000 .build/release/segserve serve --port 0 2>"$dir/log" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do grep -q "listening" "$dir/log" && break; sleep 0.1; done
address="$(sed -n 's/.*address=\([^ ]*\) .*/\1/p' "$dir/log" | head -n 1)"
[ -n "$address" ] || { cat "$dir/log" >&2; exit 1; }

images=(Tests/Fixtures/photos/*.jpg)
image="${images[0]}"
submit() { curl -sf -F "image=@$image" "http://$address/v1/segmentations?seed=$1" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p'; }
job="$(submit 0)"
curl -sf -H 'Prefer: wait=60' "http://$address/v1/jobs/$job" >/dev/null

summary() { grep -E "Requests/sec|^ +(50|90|99)%|Socket errors|Non-2xx" | sed 's/^ */  /'; }
succeeded() { curl -s "http://$address/metrics" | sed -n 's/^segserve_jobs_finished_total{kind="segmentation",outcome="succeeded"} //p' | grep . || echo 0; }

echo "GET /v1/jobs/{id}, idle service (${connections} connections, ${duration}s)"
nice -n 19 wrk -t2 -c"$connections" -d"${duration}s" --latency "http://$address/v1/jobs/$job" | summary

for seed in $(seq 1 200); do submit "$seed" >/dev/null; done
before="$(succeeded)"
sleep "$duration"
echo "No polls while the worker runs jobs (${duration}s)"
echo "  jobs finished meanwhile: $(( $(succeeded) - before ))"
before="$(succeeded)"
echo "GET /v1/jobs/{id} while the worker runs jobs (${connections} connections, ${duration}s)"
nice -n 19 wrk -t2 -c"$connections" -d"${duration}s" --latency "http://$address/v1/jobs/$job" | summary
echo "  jobs finished meanwhile: $(( $(succeeded) - before ))"
echo "GET /v1/jobs/{id} while the worker runs jobs (4 connections, ${duration}s)"
before="$(succeeded)"
nice -n 19 wrk -t1 -c4 -d"${duration}s" --latency "http://$address/v1/jobs/$job" | summary
echo "  jobs finished meanwhile: $(( $(succeeded) - before ))"
echo "GET /v1/jobs/{id} at a steady pace while the worker runs jobs (8 clients, one poll per 50 ms each, ${duration}s)"
before="$(succeeded)"
# Above the workers' priority where allowed, so its own wake-ups do not count in the latency, as a
# client on another machine's would not.
# (Without the privilege, nice warns and runs it at the usual priority.)
nice -n -10 python3 tools/load/paced_polls.py "http://$address/v1/jobs/$job" "$duration" 8 0.05
echo "  jobs finished meanwhile: $(( $(succeeded) - before ))"
