#!/usr/bin/env bash
# Installs what the tests need beyond the build: headless Chromium and its WebDriver for the
# browser test of the page (tools/tests/test_web_page.py), and the PostgreSQL server the job
# store tests start a private cluster of (Tests/TestSupport/PostgresServer.swift).
set -euo pipefail
pkgs=(chromium chromium-driver postgresql)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
