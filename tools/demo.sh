#!/bin/bash
# Install the project in a local virtualenv and run the end-to-end demo.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[demo]'
exec .venv/bin/oslo-metrics-middleware demo "$@"
