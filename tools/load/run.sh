#!/usr/bin/env bash
# Load test of the HTTPServer module: builds tools/load in release, starts load-server on a free
# port, runs wrk against GET / and POST /echo-size (256 KiB bodies, post.lua) over keep-alive
# connections, prints req/s and latency percentiles, and stops the server.
# Usage: tools/load/run.sh [seconds per run, default 10] [connections, default 64]
set -euo pipefail
cd "$(dirname "$0")"
duration="${1:-10}"
connections="${2:-64}"

command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }
swift build -c release --product load-server >/dev/null

log="$(mktemp)"
.build/release/load-server 0 >"$log" 2>&1 &
server=$!
trap 'kill -INT "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 50); do grep -q "listening on" "$log" && break; sleep 0.1; done
address="$(sed -n 's/^listening on //p' "$log")"
[ -n "$address" ] || { cat "$log" >&2; exit 1; }

summary() { grep -E "Requests/sec|^ +(50|99)%|Socket errors|Non-2xx" | sed 's/^ */  /'; }

echo "GET / (${connections} connections, ${duration}s)"
wrk -t2 -c"$connections" -d"${duration}s" --latency "http://$address/" | summary
echo "POST /echo-size, 256 KiB bodies (${connections} connections, ${duration}s)"
wrk -t2 -c"$connections" -d"${duration}s" --latency -s post.lua "http://$address/" | summary
