#!/usr/bin/env bash
# Installs the Python tools: their pinned requirements (tools/requirements.txt), then the tools
# themselves as the package `segtools` and the Python client `segserve_client` (both editable,
# so a change takes effect at once).
set -euo pipefail
python3 -m pip install -q -r tools/requirements.txt
python3 -m pip install -q --no-deps --no-build-isolation -e tools
python3 -m pip install -q --no-deps --no-build-isolation -e clients/python
