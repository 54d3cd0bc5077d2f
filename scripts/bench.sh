#!/usr/bin/env bash
# Runs the runtime benchmark side by side with PyTorch (see tools/bench/bench.py).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product segserve-bench
swift build -c release --product segserve
python3 tools/bench/bench.py "$@"
