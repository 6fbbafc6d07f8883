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
.venv/bin/pip install -q -e '.[test]' -r doc/requirements.txt

# Real OpenStack services for tests/functional/test_openstack_services.py,
# in a venv of their own (their pins clash with ours), kept while the
# requirement files are unchanged.
stamp="$(cat tools/openstack-requirements.txt tools/openstack-constraints.txt | sha256sum)"
if [ "$(cat .venv-openstack/.installed 2>/dev/null)" != "$stamp" ]; then
    python3 -m venv .venv-openstack
    .venv-openstack/bin/pip install -q --upgrade pip
    .venv-openstack/bin/pip install -q -c tools/openstack-constraints.txt \
        -r tools/openstack-requirements.txt
    echo "$stamp" > .venv-openstack/.installed
fi

.venv/bin/ruff check oslo_metrics_middleware tests bench
.venv/bin/mypy
# The documentation and release notes build without a warning.
.venv/bin/sphinx-build -q -W -b html doc/source doc/build/html
.venv/bin/sphinx-build -q -W -b html releasenotes/source releasenotes/build/html
# The wheel works installed the way operators install it.
bash tools/wheel-smoke.sh
.venv/bin/python -m pytest "$@"
