#!/usr/bin/env bash
# Installs the Python tools' requirements (reference fixtures, training, evaluation checks).
set -euo pipefail
python3 -m pip install -q -r tools/requirements.txt
