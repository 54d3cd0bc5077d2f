#!/usr/bin/env bash
# Status polls against the Hummingbird reference, alternating the two servers (A B A B):
# `segserve serve` (release, embedded model) answering GET /v1/jobs/{id} for a finished job,
# and a reference Hummingbird 2 server answering a constant JSON at GET /v1/jobs/123 (pass its
# binary; it listens on $PORT). wrk -t2 -c64 per round; prints each round and the
# medians. Polls are answered on segserve's event loops, at the priority it started with.
# Usage: tools/load/polls.sh HBSERVER_BINARY [pairs, default 5] [seconds per round, default 8]
set -euo pipefail
cd "$(dirname "$0")/../.."
hb="${1:?path to the reference HBServer binary}"
pairs="${2:-5}"
duration="${3:-8}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
swift build -c release --product segserve >/dev/null

dir="$(mktemp -d)"
SEGSERVE_DATABASE="$dir/jobs.sqlite" .build/release/segserve serve --port 0 2>"$dir/log" &
server=$!
PORT=18082 "$hb" >"$dir/hb.log" 2>&1 &
reference=$!
trap 'kill -TERM "$server" "$reference" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do grep -q "listening" "$dir/log" && break; sleep 0.1; done
address="$(sed -n 's/.*address=\([^ ]*\) .*/\1/p' "$dir/log" | head -n 1)"
[ -n "$address" ] || { cat "$dir/log" >&2; exit 1; }
python3 -c "from PIL import Image; Image.effect_noise((320, 240), 64).convert('RGB').save('$dir/noise.png')"
job="$(curl -sf -F "image=@$dir/noise.png" "http://$address/v1/segmentations?steps=2" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')"
curl -sf -H 'Prefer: wait=60' "http://$address/v1/jobs/$job" >/dev/null
for _ in $(seq 50); do curl -sf http://127.0.0.1:18082/healthz >/dev/null && break; sleep 0.1; done

rate() { wrk -t2 -c64 -d"${duration}s" --latency "$1" | awk '/Requests\/sec/ {r=$2} /^ +99%/ {p=$2} END {print r, p}'; }
ours=() theirs=()
for i in $(seq "$pairs"); do
    read -r a ap < <(rate "http://$address/v1/jobs/$job")
    read -r b bp < <(rate "http://127.0.0.1:18082/v1/jobs/123")
    ours+=("$a") theirs+=("$b")
    echo "pair $i: segserve $a req/s (p99 $ap), reference $b req/s (p99 $bp)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR + 1) / 2)]}'; }
echo "median: segserve $(median "${ours[@]}") req/s, reference $(median "${theirs[@]}") req/s"
