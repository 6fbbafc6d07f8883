# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""The shipped Prometheus rules and Grafana dashboard."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from oslo_metrics_middleware import assets
from oslo_metrics_middleware.report.prometheus import PrometheusClient
from tests.report.conftest import Deployment

pytestmark = pytest.mark.timeout(60)
PROMETHEUS_DIR = assets.ROOT / "prometheus"
DASHBOARD = assets.path("grafana/openstack-api-endpoints.json")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool is not installed (tools/test.sh installs it)")
    return subprocess.run([binary, *args], capture_output=True, text=True,
                          cwd=PROMETHEUS_DIR, timeout=30, check=False)


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", "openstack-api.rules.yaml",
                      "openstack-api.alerts.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout
    assert "SUCCESS: 5 rules found" in result.stdout


def test_promtool_unit_tests_cover_every_alert() -> None:
    tests = (PROMETHEUS_DIR / "openstack-api.rules.test.yaml").read_text()
    alerts = (PROMETHEUS_DIR / "openstack-api.alerts.yaml").read_text()
    names = [line.split(":", 1)[1].strip() for line in alerts.splitlines()
             if line.strip().startswith("- alert:")]
    assert names == ["OpenStackAPIHighLatencyP95", "OpenStackAPIHigh5xxRatio",
                     "OpenStackAPIMetricsDropped", "OpenStackAPIRouteOverflow",
                     "OsloMetricsCollectorOverflow"]
    for name in names:
        assert f"alertname: {name}" in tests, name
    result = promtool("test", "rules", "openstack-api.rules.test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _dashboard() -> dict[str, object]:
    return dict(json.loads(DASHBOARD.read_text()))


def test_dashboard_template_variables() -> None:
    variables = _dashboard()["templating"]["list"]  # type: ignore[index]
    assert [v["name"] for v in variables] == [
        "datasource", "service", "method", "route"]


def test_latency_panels_show_exemplars() -> None:
    panels = _dashboard()["panels"]
    latency = [p for p in panels  # type: ignore[attr-defined]
               if any("histogram_quantile" in t["expr"] for t in p["targets"])]
    assert [p["title"] for p in latency] == [
        "Latency p50 / p95 / p99 per endpoint"]
    for panel in latency:
        exemplar = [t["refId"] for t in panel["targets"] if t.get("exemplar")]
        assert exemplar == ["A"]
        assert "_bucket" in panel["targets"][0]["expr"]


def _expressions() -> list[str]:
    panels = _dashboard()["panels"]
    return [t["expr"] for p in panels for t in p["targets"]]  # type: ignore[attr-defined]


def test_dashboard_queries_run_on_prometheus(one_host: Deployment) -> None:
    client = PrometheusClient(one_host.prometheus.url)
    expressions = _expressions()
    assert len(expressions) == 12
    vectors = []
    for expr in expressions:
        promql = (expr.replace("$__rate_interval", "5s")
                  .replace("$service", "compute").replace("$method", ".*")
                  .replace("$route", ".*"))
        vectors.append(client.query(promql, one_host.end))
    # Every panel has data. The two health panels read 0, not "no data":
    # nothing dropped, no overflow, and the collector gives each service
    # its drop and overflow counters at 0.
    assert all(vectors)
    assert {value for vector in vectors[-2:] for _, value in vector} == {0.0}
