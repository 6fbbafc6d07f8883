#!/bin/bash
# Install everything the test suite needs on a fresh Debian machine, then run it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=""
    for tool in prometheus:prometheus promtool:prometheus chromium:chromium \
            apache2:apache2 victoria-metrics:victoria-metrics wrk:wrk \
            systemd-analyze:systemd setpriv:util-linux useradd:passwd; do
        command -v "${tool%%:*}" >/dev/null || missing="$missing ${tool##*:}"
    done
    # Apache's mod_wsgi, for the conformance tests (Debian's embeds python3).
    [ -e /usr/lib/apache2/modules/mod_wsgi.so ] || missing="$missing libapache2-mod-wsgi-py3"
    if [ -n "$missing" ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]' -r doc/requirements.txt

# Real OpenStack services for tests/functional/test_openstack_services.py,
# in a venv of their own (their pins clash with ours). It is kept in the
# user's cache under the hash of its requirement files, so every checkout on
# this machine reuses it; .venv-openstack links to it. A fresh install takes
# about four minutes.
stamp="$(cat tools/openstack-requirements.txt tools/openstack-constraints.txt | sha256sum | cut -c1-16)"
cache_root="${XDG_CACHE_HOME:-${HOME:+$HOME/.cache}}"
openstack_venv="${cache_root:-$PWD/.cache}/oslo-metrics-middleware/venv-openstack-$stamp"
if [ ! -e "$openstack_venv/.installed" ]; then
    rm -rf "$openstack_venv"
    python3 -m venv "$openstack_venv"
    "$openstack_venv/bin/pip" install -q --upgrade pip
    "$openstack_venv/bin/pip" install -q -c tools/openstack-constraints.txt \
        -r tools/openstack-requirements.txt
    touch "$openstack_venv/.installed"
fi
if [ -d .venv-openstack ] && [ ! -L .venv-openstack ]; then
    rm -rf .venv-openstack
fi
ln -sfn "$openstack_venv" .venv-openstack

.venv/bin/ruff check oslo_metrics_middleware tests bench
.venv/bin/mypy
# The documentation and release notes build without a warning.
.venv/bin/sphinx-build -q -W -b html doc/source doc/build/html
.venv/bin/sphinx-build -q -W -b html releasenotes/source releasenotes/build/html
# The wheel works installed the way operators install it.
bash tools/wheel-smoke.sh
.venv/bin/python -m pytest "$@"
