#!/bin/bash
# Build the sdist and wheel, install the wheel (not editable, with the demo
# extra) into a throw-away virtualenv and run each command from an empty
# folder, as an operator would: nothing from the checkout is importable.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
work=$(mktemp -d -t wheel-smoke-XXXXXX)
demo_pid=""
collector_pid=""
cleanup() {
    for pid in $demo_pid $collector_pid; do
        kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

step() { echo "wheel smoke: $*"; }

step "python -m build"
"$python" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 \
    || { cat "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/*.whl)

step "install $(basename "$wheel")[demo] into a new virtualenv"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$wheel[demo]" >"$work/pip.log" 2>&1 \
    || { cat "$work/pip.log"; exit 1; }
omm="$work/venv/bin/oslo-metrics-middleware"
py="$work/venv/bin/python"
cd "$work"
mkdir run && cd run

# Wait until a URL answers (or give up after $2 seconds).
wait_url() {
    "$py" - "$1" "${2:-60}" <<'PY'
import sys, time, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while True:
    try:
        urllib.request.urlopen(url, timeout=5).read()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"{url} did not answer")
        time.sleep(0.2)
PY
}

step "metadata"
"$py" - <<'PY'
from importlib import metadata
meta = metadata.metadata("oslo-metrics-middleware")
assert meta["Requires-Python"] == ">=3.11", meta["Requires-Python"]
assert "Typing :: Typed" in meta.get_all("Classifier")
assert "oslo-metrics-middleware" in meta.get_payload(), "long description"
assert any(r.startswith("oslo.metrics>=0.15.0") for r in meta.get_all("Requires-Dist"))
files = {str(f) for f in metadata.files("oslo-metrics-middleware")}
assert any(f.endswith("LICENSE") for f in files), "LICENSE"
assert "oslo_metrics_middleware/report/templates/report.html.j2" in files
PY

step "assets"
"$omm" assets --write assets >/dev/null
for name in api-paste.ini.sample collector.conf.sample oslo-metrics-collector.service \
        oslo-metrics-middleware.conf.sample grafana/openstack-api-endpoints.json \
        prometheus/openstack-api.rules.yaml prometheus/openstack-api.alerts.yaml \
        sysusers.d/oslo-metrics.conf; do
    test -s "assets/$name" || { echo "missing asset $name"; exit 1; }
done

step "slo rules from the shipped sample objectives"
"$omm" slo rules assets/prometheus/openstack-api.objectives.ini.sample \
    --output-dir slo >/dev/null
test -s slo/openstack-api-slo.rules.yaml || { echo "no slo rules"; exit 1; }
step "--version; the written unit runs this virtualenv's command and verifies"
version=$("$omm" --version)
[[ "$version" =~ ^oslo-metrics-middleware\ [0-9]+\.[0-9]+ ]] \
    || { echo "unexpected --version: $version"; exit 1; }
unit=assets/oslo-metrics-collector.service
grep -qx "ExecStart=$omm collector --config-file /etc/oslo-metrics/collector.conf" "$unit" \
    || { grep ExecStart "$unit"; echo "ExecStart does not name $omm"; exit 1; }
if command -v systemd-analyze >/dev/null; then
    complaints=$(systemd-analyze verify --man=no "$unit" 2>&1) \
        && [ -z "$complaints" ] || { echo "$complaints"; exit 1; }
fi

step "paste (the shipped sample has the filter first everywhere; add, remove)"
"$omm" paste check assets/api-paste.ini.sample >/dev/null
printf '[pipeline:main]\npipeline = cors api\n' >api-paste.ini
cp api-paste.ini api-paste.ini.orig
"$omm" paste add api-paste.ini --service-name compute >/dev/null
"$omm" paste check api-paste.ini --service-name compute >/dev/null
"$omm" paste remove api-paste.ini >/dev/null
cmp api-paste.ini api-paste.ini.orig

step "collector (the shipped sample config, on a private socket and port)"
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s|^#\?metrics_socket_file = .*|metrics_socket_file = $PWD/collector.sock|" \
    -e "s|^#\?prometheus_host = .*|prometheus_host = 127.0.0.1|" \
    -e "s|^#\?prometheus_port = .*|prometheus_port = $port|" \
    assets/collector.conf.sample >collector.conf
"$omm" collector --config-file collector.conf >collector.log 2>&1 &
collector_pid=$!
wait_url "http://127.0.0.1:$port/metrics"
test -S collector.sock
kill -TERM "$collector_pid"
wait "$collector_pid"
collector_pid=""
test ! -e collector.sock
! grep -q Traceback collector.log

step "demo"
"$omm" demo --requests 200 --concurrency 4 >demo.out 2>demo.err
grep -q "/v2.1/servers/{id}" demo.out || { cat demo.out demo.err; exit 1; }
! grep -q Traceback demo.err

step "demo --serve, report --scrape from its collector, SIGTERM"
PYTHONUNBUFFERED=1 "$omm" demo --requests 100 --serve >serve.out 2>&1 &
demo_pid=$!
for _ in $(seq 600); do grep -q "^Serving" serve.out && break; sleep 0.1; done
metrics=$(sed -n 's/^Metrics: *//p' serve.out)
api=$(sed -n 's/^API: *//p' serve.out)
test -n "$metrics" && test -n "$api" || { cat serve.out; exit 1; }
# Traffic while the report records: it counts from its first scrape.
"$py" - "$api" <<'PY' &
import sys, time, urllib.request
for _ in range(400):
    urllib.request.urlopen(sys.argv[1], timeout=10).read()
    time.sleep(0.01)
PY
traffic_pid=$!
"$omm" report --scrape "$metrics" --interval 1s --duration 2s --store scrapes.jsonl \
    --format html --output report.html --no-progress
wait "$traffic_pid"
grep -q '<svg class="graph latency"' report.html
"$omm" report --from-file scrapes.jsonl --format json | "$py" -c \
    'import json, sys; assert json.load(sys.stdin)["endpoints"]'
kill -TERM "$demo_pid"
wait "$demo_pid"
demo_pid=""
grep -q "Stopping." serve.out
step "passed"
