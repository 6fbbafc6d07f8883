"""The HTML page fetches per-step graph data only for what it draws.

Real engines scraping a real collector: the endpoints in the answers to
the graph queries are counted, and the page drawn from the narrow fetch
must be the page drawn from a fetch of every endpoint.
"""

from __future__ import annotations

import time

import pytest

from oslo_metrics_middleware.report import analysis
from oslo_metrics_middleware.report import html_report
from oslo_metrics_middleware.report import prometheus
from oslo_metrics_middleware.report.capacity import CapacitySettings
from oslo_metrics_middleware.report.model import EndpointKey
from oslo_metrics_middleware.report.model import RawData
from tests.report.conftest import Deployment
from tests.report.test_prometheus_report import ENGINE_NAMES

pytestmark = pytest.mark.timeout(120)
STEP = 2.0
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
        self.answers.append((promql, {
            (labels["service"], labels["method"], labels["route"])
            for labels, _ in matrix
        }))
        return matrix

    def graph_endpoints(self) -> set[EndpointKey]:
        """Endpoints in the answers for per-step requests and buckets."""
        return {key for promql, keys in self.answers
                if f"{prometheus.DURATION}_sum" not in promql
                for key in keys}


def fetch(deployment: Deployment, engine: str,
          graphs: int) -> tuple[RawData, set[EndpointKey]]:
    client = RecordingClient(deployment.engines[engine].url)
    source = prometheus.PrometheusSource(client, [])
    raw = source.fetch(deployment.start, deployment.end, STEP, graphs=graphs)
    return raw, client.graph_endpoints()


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_graph_data_only_for_drawn_endpoints(
    one_host: Deployment, engine: str
) -> None:
    sent = set(one_host.traffic.requests)
    assert len(sent) == 5
    wait = one_host.end + LATENCY_OFFSET.get(engine, 0.0) - time.time()
    time.sleep(max(0.0, wait))
    every, every_fetched = fetch(one_host, engine, len(sent) + 10)
    drawn, drawn_fetched = fetch(one_host, engine, DRAWN)
    _, none_fetched = fetch(one_host, engine, 0)
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
