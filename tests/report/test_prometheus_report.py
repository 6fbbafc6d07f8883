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

"""Reports from real query engines scraping real collectors fed by the filter.

Prometheus and VictoriaMetrics scrape the same collectors with the same
scrape config, so every report must give the same exact totals on both.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
import time
from typing import Any

import pytest

from oslo_metrics_middleware.collector.openstack_api import DURATION_BUCKETS
from oslo_metrics_middleware.report import analysis
from oslo_metrics_middleware.report import cli
from oslo_metrics_middleware.report import html_report
from oslo_metrics_middleware.report import prometheus
from oslo_metrics_middleware.report.capacity import CapacitySettings
from oslo_metrics_middleware.report.histogram import bucket_index
from oslo_metrics_middleware.report.model import EndpointKey
from oslo_metrics_middleware.report.model import RawData
from tests.report.conftest import Deployment
from tests.report.conftest import Traffic

pytestmark = pytest.mark.timeout(120)
BOUNDS = [*DURATION_BUCKETS, math.inf]


ENGINE_NAMES = ("prometheus", "victoriametrics")


@pytest.fixture(params=ENGINE_NAMES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def run_report(deployment: Deployment, tmp_path: Path, *extra: str,
               engine: str = "prometheus") -> Any:
    output = tmp_path / "report.json"
    status = cli.main([
        "--prometheus", deployment.engines[engine].url,
        "--start", f"{deployment.start:.3f}", "--end", f"{deployment.end:.3f}",
        "--step", "2s", "--format", "json", "--output", str(output),
        "--no-progress", *extra,
    ])
    assert status == 0
    return json.loads(output.read_text())


def by_endpoint(report: Any) -> dict[tuple[str, str, str], Any]:
    return {(e["service"], e["method"], e["route"]): e
            for e in report["endpoints"]}


def true_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def scraped_sum(page: str, metric: str) -> float:
    """The sum of ``metric``'s series on a collector's /metrics page."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in page.splitlines()
               if line.startswith(metric + "{"))


def assert_counts(report: Any, traffic: Traffic) -> None:
    endpoints = by_endpoint(report)
    assert set(endpoints) == set(traffic.requests)
    for key, sent in traffic.requests.items():
        assert endpoints[key]["requests"] == sent, key
        assert endpoints[key]["client_errors"] == traffic.client_errors[key]
        assert endpoints[key]["server_errors"] == traffic.server_errors[key]
        assert endpoints[key]["bytes_in"] == traffic.bytes_in[key], key


def test_counts_match_the_traffic_sent(
    one_host: Deployment, tmp_path: Path, engine: str
) -> None:
    report = run_report(one_host, tmp_path, engine=engine)
    assert_counts(report, one_host.traffic)
    [collector] = one_host.collectors
    busy = sum(e["busy_seconds"] for e in report["endpoints"])
    assert busy == pytest.approx(
        scraped_sum(collector.scrape(), "openstack_api_request_duration_seconds_sum"),
        rel=1e-9)
    assert sum(e["bytes_out"] for e in report["endpoints"]) == scraped_sum(
        collector.scrape(), "openstack_api_response_size_bytes_sum")
    endpoints = by_endpoint(report)
    servers = endpoints[("compute", "GET", "/v2.1/servers/{id}")]
    assert servers["requests"] == 75
    assert servers["client_errors"] == 15
    assert servers["client_error_ratio"] == pytest.approx(0.2)
    crash = endpoints[("compute", "GET", "/v2.1/os-crash")]
    assert (crash["requests"], crash["server_errors"]) == (3, 3)
    assert crash["exceptions"] == 3
    create = endpoints[("compute", "POST", "/v2.1/servers")]
    assert create["bytes_in"] == 20 * 26 + 8 * 13
    assert report["dropped_samples"] == {}


# Eight client threads on a loaded machine: each may wait several of
# Python's 5 ms switch intervals before its timer stops.
SCHEDULING_SLACK = 0.05


def test_quantiles_within_one_bucket(
    one_host: Deployment, tmp_path: Path, engine: str
) -> None:
    endpoints = by_endpoint(run_report(one_host, tmp_path, engine=engine))
    for key, durations in one_host.traffic.durations.items():
        for q, field in ((0.5, "p50_seconds"), (0.95, "p95_seconds"),
                         (0.99, "p99_seconds")):
            reported = bucket_index(endpoints[key][field], BOUNDS)
            outer = true_quantile(durations, q)
            # Timed around the filter by one client thread of eight: the
            # outer time also holds GIL waits the filter did not measure, so
            # it bounds the filter's figure from above, and loosely below.
            low = bucket_index(max(0.0, outer - SCHEDULING_SLACK), BOUNDS)
            high = bucket_index(outer, BOUNDS)
            assert low - 1 <= reported <= high + 1, (key, field)


def test_report_sums_two_hosts(
    two_hosts: Deployment, tmp_path: Path, engine: str
) -> None:
    per_host = [
        sum(1 for line in c.scrape().splitlines()
            if line.startswith("openstack_api_request_duration_seconds_count"))
        for c in two_hosts.collectors
    ]
    assert per_host == [3, 3]  # (route, status) series on each host
    report = run_report(two_hosts, tmp_path, engine=engine)
    assert_counts(report, two_hosts.traffic)
    servers = by_endpoint(report)[("compute", "GET", "/v2.1/servers/{id}")]
    assert servers["requests"] == 65
    # The second host is scraped without its process start time, so a
    # restart there could not be seen: the report says so.
    blind = two_hosts.collectors[1]
    assert report["exact"] is False
    [note] = report["notes"]
    assert note.startswith("no process_start_time_seconds for instance "
                           f"127.0.0.1:{blind.port}: ")


def test_service_filter(one_host: Deployment, tmp_path: Path) -> None:
    report = run_report(one_host, tmp_path, "--service", "compute")
    assert len(report["endpoints"]) == 5



def test_text_and_markdown_list_every_endpoint(
    one_host: Deployment, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for fmt in ("table", "markdown", "csv"):
        status = cli.main([
            "--prometheus", one_host.prometheus.url, "--format", fmt,
            "--start", f"{one_host.start:.3f}",
            "--end", f"{one_host.end:.3f}", "--step", "2s", "--no-progress",
        ])
        assert status == 0
        out = capsys.readouterr().out
        for route in ("/v2.1/servers/{id}", "/v2.1/os-crash",
                      "/v2.1/flavors/{flavor_id}"):
            assert route in out, (fmt, route)
    rows = out.strip().splitlines()
    assert rows[0].startswith("service,method,route,requests,request_rate")
    assert len(rows) == 1 + 5


def test_restart_and_series_born_in_the_range(
    restarted: Deployment, tmp_path: Path, engine: str
) -> None:
    report = run_report(restarted, tmp_path, engine=engine)
    assert_counts(report, restarted.traffic)
    endpoints = by_endpoint(report)
    # 7 before the range, 20 before the restart, 10 + 5 after it.
    assert endpoints[("compute", "GET", "/v2.1/servers/{id}")]["requests"] == 38
    assert report["exact"] is True
    assert report["notes"] == []


def test_engines_agree(restarted: Deployment, tmp_path: Path) -> None:
    reports = [by_endpoint(run_report(restarted, tmp_path, engine=name))
               for name in ENGINE_NAMES]
    fields = ("requests", "client_errors", "server_errors", "bytes_in",
              "bytes_out", "exceptions", "p50_seconds", "p99_seconds")
    for key, first in reports[0].items():
        assert {f: first[f] for f in fields} == {
            f: reports[1][key][f] for f in fields}, key
        assert first["busy_seconds"] == pytest.approx(
            reports[1][key]["busy_seconds"], rel=1e-9), key


def test_fast_endpoint_quantiles_are_bounds(
    restarted: Deployment, tmp_path: Path, engine: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = run_report(restarted, tmp_path, engine=engine)
    versions = by_endpoint(report)[("compute", "GET", "/")]
    durations = restarted.traffic.durations[("compute", "GET", "/")]
    # Timed around the filter, so at least what the filter measured.
    assert true_quantile(durations, 0.5) < 0.001
    assert versions["p50_bounded"] is True
    assert (versions["p50_lower_seconds"], versions["p50_upper_seconds"]) \
        == (0, 0.001)
    assert 0 < versions["p50_seconds"] <= 0.001
    for fmt in ("table", "markdown"):
        assert cli.main([
            "--prometheus", restarted.engines[engine].url, "--format", fmt,
            "--start", f"{restarted.start:.3f}",
            "--end", f"{restarted.end:.3f}", "--no-progress",
        ]) == 0
        [line] = [row for row in capsys.readouterr().out.splitlines()
                  if "GET" in row and " / " in f"{row} "]
        assert "< 1 ms" in line, (fmt, line)
    page = tmp_path / "report.html"
    assert cli.main([
        "--prometheus", restarted.engines[engine].url, "--format", "html",
        "--start", f"{restarted.start:.3f}", "--end", f"{restarted.end:.3f}",
        "--output", str(page), "--no-progress",
    ]) == 0
    assert '<td class="l">/</td>' in page.read_text()
    assert "<td>&lt; 1 ms</td>" in page.read_text()


DRAWN = 2
# VictoriaMetrics leaves the newest 30 s out of range queries (its
# -search.latencyOffset), nocache or not.
LATENCY_OFFSET = {"victoriametrics": 31.0}


class RecordingClient(prometheus.PrometheusClient):
    """Keeps each range query with the endpoints its answer held."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.answers: list[tuple[str, set[EndpointKey]]] = []

    def query_range(self, promql: str, start: float, end: float,
                    step: float) -> prometheus.Matrix:
        matrix = super().query_range(promql, start, end, step)
        # The queries for where the data starts and ends sum every series.
        self.answers.append((promql, {
            (labels["service"], labels["method"], labels["route"])
            for labels, _ in matrix if "service" in labels
        }))
        return matrix

    def graph_endpoints(self) -> set[EndpointKey]:
        """Endpoints in the answers for per-step requests and buckets."""
        return {key for promql, keys in self.answers
                if f"{prometheus.DURATION}_sum" not in promql
                for key in keys}


def fetch_graphs(deployment: Deployment, engine: str,
                 graphs: int) -> tuple[RawData, set[EndpointKey]]:
    """The data for a page drawing ``graphs`` endpoints, and the endpoints
    whose per-step data came back."""
    client = RecordingClient(deployment.engines[engine].url)
    source = prometheus.PrometheusSource(client, [])
    raw = source.fetch(deployment.start, deployment.end, 2.0, graphs=graphs)
    return raw, client.graph_endpoints()


def test_graph_data_only_for_drawn_endpoints(
    one_host: Deployment, engine: str
) -> None:
    """The HTML page reads per-step data for what it draws and no more,
    and draws the same page as from every endpoint's data."""
    sent = set(one_host.traffic.requests)
    assert len(sent) == 5
    wait = one_host.end + LATENCY_OFFSET.get(engine, 0.0) - time.time()
    time.sleep(max(0.0, wait))
    every, every_fetched = fetch_graphs(one_host, engine, len(sent) + 10)
    drawn, drawn_fetched = fetch_graphs(one_host, engine, DRAWN)
    _, none_fetched = fetch_graphs(one_host, engine, 0)
    order = analysis.busiest(every.totals)
    assert set(order) == sent
    assert every_fetched == sent
    assert drawn_fetched == set(order[:DRAWN])
    assert none_fetched == set()

    settings = CapacitySettings()
    full = analysis.build(every, settings)
    narrow = analysis.build(drawn, settings)
    assert [(e.service, e.method, e.route) for e in narrow.endpoints] == order
    for index, endpoint in enumerate(narrow.endpoints):
        # Every endpoint had requests in some step; only drawn ones are known.
        assert any(full.endpoints[index].graph.rate), endpoint.route
        assert any(endpoint.graph.rate) is (index < DRAWN), endpoint.route
    assert html_report.render(narrow, DRAWN) == html_report.render(
        full, DRAWN)
