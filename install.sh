#!/usr/bin/env bash
# Installs vanplan with its development tools (the README's install command).
# Python packages come from PyPI; the browser tests use Debian's Chromium (never a browser download).
set -euo pipefail
cd "$(dirname "$0")"

python3 -m pip install -e ".[dev]"

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  else
    echo "install.sh: Chromium is missing; the browser tests need it: sudo apt-get install chromium" >&2
    exit 1
  fi
fi
