#!/bin/bash
# Install everything the test suite needs on a fresh Debian machine, then run it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=""
    for tool in prometheus:prometheus promtool:prometheus chromium:chromium; do
        command -v "${tool%%:*}" >/dev/null || missing="$missing ${tool##*:}"
    done
    if [ -n "$missing" ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'

.venv/bin/ruff check oslo_metrics_middleware tests bench
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
