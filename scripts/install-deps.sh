#!/usr/bin/env bash
# Installs the system libraries segserve links against (Debian/Ubuntu).
set -euo pipefail
pkgs=(libopenblas-dev libpng-dev libjpeg-dev libsqlite3-dev zlib1g-dev pkg-config)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi
