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

from collections.abc import Iterator
import dataclasses
import json
from pathlib import Path
import shutil
import subprocess
import time
from typing import Any

import pytest

from oslo_metrics_middleware import assets
from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector.process import CollectorProcess
from oslo_metrics_middleware.report.prometheus import PrometheusClient
from oslo_metrics_middleware.report.prometheus import PrometheusSource
from tests.functional import collectors
from tests.report.conftest import PrometheusServer
from tests.report.conftest import Traffic
from tests.report.conftest import send_paced

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


def _panels() -> dict[str, list[dict[str, Any]]]:
    """The targets of each panel, by title."""
    return {panel["title"]: panel["targets"]
            for panel in _dashboard()["panels"]}  # type: ignore[attr-defined]


def test_every_legend_names_the_service() -> None:
    for title, targets in _panels().items():
        for target in targets:
            legend = target["legendFormat"]
            if "oslo_metrics_collector_rejected_total" in target["expr"]:
                # The collector refuses datagrams before any service is
                # known: its figure is per host for all services.
                assert legend.endswith("(all services)"), title
                continue
            assert "{{service}}" in legend, (title, legend)


PLAN = {"slow": 4, "medium": 4, "fast": 8, "missing": 4, "broken": 2}
SCRAPE_GAPS = 2.2  # seconds a rate window may lack: a scrape at each end


@dataclasses.dataclass
class Window:
    """Traffic sent inside a window of a Prometheus scraping every second."""

    prometheus: PrometheusServer
    traffic: Traffic
    began: float
    ended: float

    @property
    def seconds(self) -> float:
        return self.ended - self.began

    def panel(self, title: str, ref: str) -> dict[tuple[str, ...], float]:
        """A panel's query at the window's end, over the window, by the
        labels of its legend."""
        [target] = [t for t in _panels()[title] if t["refId"] == ref]
        promql = (target["expr"]
                  .replace("$__rate_interval", f"{self.seconds * 1000:.0f}ms")
                  .replace("$service", "compute").replace("$method", ".*")
                  .replace("$route", ".*"))
        client = PrometheusClient(self.prometheus.url)
        return {
            tuple(labels.get(name, "") for name in ("service", "method",
                                                    "route", "reason",
                                                    "label")): value
            for labels, value in client.query(promql, self.ended)
        }


@pytest.fixture(scope="module")
def window(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Window]:
    """The plan sent twice: before the window, so every series exists and
    has counted as much as the window adds (which keeps rate() from
    cutting its extrapolation short), and inside it."""
    workdir = tmp_path_factory.mktemp("dashboard")
    collector = CollectorProcess(workdir=workdir)
    collector.start()
    prometheus = PrometheusServer(workdir, [f"127.0.0.1:{collector.port}"])
    try:
        prometheus.start()
        prometheus.wait_for_targets(1)
        total = sum(PLAN.values())
        send_paced(collector.socket_path, PLAN)
        prometheus.wait_for_count(total)
        began = time.time()
        time.sleep(1.5)  # a scrape inside the window before the traffic
        traffic = send_paced(collector.socket_path, PLAN)
        prometheus.wait_for_count(2 * total)
        time.sleep(3.0)
        yield Window(prometheus, traffic, began, time.time())
    finally:
        prometheus.stop()
        collector.stop()


def _endpoint(key: tuple[str, str, str]) -> tuple[str, str, str, str, str]:
    return (*key, "", "")


def test_dashboard_rates_are_the_traffic_sent(window: Window) -> None:
    sent = window.traffic
    rates = window.panel("Request rate per endpoint", "A")
    assert set(rates) == {_endpoint(key) for key in sent.requests}
    slowest = ("compute", "GET", "/v2.1/slow")
    for key, count in sent.requests.items():
        rate = rates[_endpoint(key)]
        assert count / window.seconds <= rate <= count / (
            window.seconds - SCRAPE_GAPS), key
        # One target's series share their scrapes: rates compare exactly.
        assert rate / rates[_endpoint(slowest)] == pytest.approx(
            count / sent.requests[slowest], rel=1e-9), key
    busy = window.panel("Average concurrency (busy workers) per endpoint",
                        "A")
    for key, slept in sent.slept.items():
        waited = sum(sent.durations[key])
        assert slept / window.seconds <= busy[_endpoint(key)] <= waited / (
            window.seconds - SCRAPE_GAPS), key
    out = window.panel("Bytes in / out per endpoint", "B")
    for key, count in sent.requests.items():
        assert out[_endpoint(key)] / rates[_endpoint(key)] == pytest.approx(
            sent.bytes_out[key] / count, rel=1e-9), key


def test_dashboard_errors_and_latency_are_the_traffic_sent(
    window: Window,
) -> None:
    client = window.panel("Error ratio per endpoint (4xx, 5xx)", "A")
    server = window.panel("Error ratio per endpoint (4xx, 5xx)", "B")
    assert client == {("compute", "GET", "__unmatched__", "", ""): 1.0}
    assert server == {("compute", "GET", "/v2.1/broken", "", ""): 1.0}
    for ref in ("A", "B", "C"):  # p50, p95, p99
        latency = window.panel("Latency p50 / p95 / p99 per endpoint", ref)
        assert 0.1 < latency[("compute", "GET", "/v2.1/slow", "", "")] <= 0.25
        assert 0.05 < latency[("compute", "POST", "/v2.1/medium", "", "")] \
            <= 0.1
        assert latency[("compute", "GET", "/v2.1/fast", "", "")] <= 0.001


def test_dashboard_health_reads_zero_before_any_event(window: Window) -> None:
    """Nothing was dropped, folded or refused: every health query says 0
    for the service, rather than having no data."""
    title = "Metrics health: dropped, overflow, collector rejected"
    for ref in ("A", "B", "C"):
        values = window.panel(title, ref)
        # By reason or label where the collector shows them; per service
        # from the traffic's series where it does not yet.
        assert values and set(values.values()) == {0.0}, (ref, values)
        assert {key[0] for key in values} == {"compute"}, (ref, values)
    rejected = window.panel(title, "D")
    assert rejected and set(rejected.values()) == {0.0}


PROJECT_LOAD = {f"{1:032x}": 6, f"{2:032x}": 3, f"{3:032x}": 1}
PROJECTS_PANEL = "Top projects: share of requests and busy time"


def _project_datagram() -> bytes:
    rows = [
        protocol.sample("compute", "GET", "/v2.1/servers", 200, 0.01, project=p)
        for p, count in PROJECT_LOAD.items()
        for _ in range(count)
    ]
    [(datagram, _)] = protocol.split_for_datagrams(rows)
    return datagram


def test_dashboard_top_projects_are_the_shares_sent(tmp_path: Path) -> None:
    """Two projects named (top_projects = 2), the third under __other__:
    the panel's shares are those of the traffic, exactly."""
    options = {"top_projects": 2, "project_window": 2}
    with CollectorProcess(workdir=tmp_path, options=options) as collector:
        prometheus = PrometheusServer(tmp_path, [f"127.0.0.1:{collector.port}"])
        try:
            prometheus.start()
            prometheus.wait_for_targets(1)
            # Three windows: named, pending, counted; then one more so
            # that every series has been scraped before the range.
            for _ in range(4):
                collectors.send(collector.socket_path, _project_datagram())
                time.sleep(2.1)
            began = time.time()
            for _ in range(2):
                collectors.send(collector.socket_path, _project_datagram())
                time.sleep(2.1)
            prometheus.wait_for_count(6 * sum(PROJECT_LOAD.values()))
            time.sleep(1.5)
            ended = time.time()
            [requests, busy] = _panels()[PROJECTS_PANEL]
            client = PrometheusClient(prometheus.url)
            for target in (requests, busy):
                promql = (
                    target["expr"]
                    .replace("$__rate_interval", f"{(ended - began) * 1000:.0f}ms")
                    .replace("$service", "compute")
                )
                shares = {
                    labels["project"]: value
                    for labels, value in client.query(promql, ended)
                }
                assert shares == pytest.approx(
                    {f"{1:032x}": 0.6, f"{2:032x}": 0.3, "__other__": 0.1},
                    rel=1e-9,
                )
            # The report's Prometheus source: the increases over the range.
            source = PrometheusSource(client, ["compute"], scrape_interval=1)
            raw = source.fetch(began, ended, 1.0)
            assert raw.projects == {
                ("compute", f"{1:032x}"): [12, pytest.approx(0.12)],
                ("compute", f"{2:032x}"): [6, pytest.approx(0.06)],
                ("compute", "__other__"): [2, pytest.approx(0.02)],
            }
        finally:
            prometheus.stop()
