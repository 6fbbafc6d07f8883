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

"""From a slow bucket to the request: request ids as exemplars, end to end.

oslo.middleware's request_id filter runs inside the metrics filter; the
collector attaches each request id to its duration observation; a real
Prometheus with exemplar storage scrapes OpenMetrics from it; the report
lists the slowest recent request ids per endpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
import socket
import time
import urllib.request

import pytest

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector.process import COLLECTOR
from oslo_metrics_middleware.collector.process import STOCK_DAEMON
from oslo_metrics_middleware.collector.process import CollectorProcess
from oslo_metrics_middleware.report import cli
from tests.report.conftest import PASTE_SAMPLE
from tests.report.conftest import Deployment
from tests.report.conftest import Traffic
from tests.report.conftest import _Stack
from tests.report.conftest import send_traffic

pytestmark = pytest.mark.timeout(120)
PLAN = {"show": 30, "create": 12, "flavor": 10}


def paste_with_request_ids(workdir: Path) -> Path:
    """The sample pipeline with oslo.middleware's request_id filter."""
    text = PASTE_SAMPLE.read_text().replace(
        "pipeline = metrics sample_compute_api",
        "pipeline = metrics request_id sample_compute_api")
    assert "request_id sample_compute_api" in text
    path = workdir / "api-paste.ini"
    path.write_text(text + "\n[filter:request_id]\n"
                    "paste.filter_factory = oslo_middleware:RequestId.factory\n")
    return path


@pytest.fixture(scope="module")
def with_ids(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("exemplars")
    stack = _Stack(workdir, 1)
    [collector] = stack.collectors
    try:
        collector.start()
        stack.start_engines(1)
        start = time.time() - 1
        traffic = send_traffic(collector.socket_path, PLAN,
                               paste=paste_with_request_ids(workdir))
        stack.wait_for_count(sum(PLAN.values()))
        yield Deployment(stack.engines, stack.collectors, traffic, start,
                         time.time())
    finally:
        stack.stop()


def _report(deployment: Deployment, engine: str, path: Path,
            fmt: str = "json") -> str:
    assert cli.main([
        "--prometheus", deployment.engines[engine].url, "--format", fmt,
        "--start", f"{deployment.start:.3f}", "--end", f"{deployment.end:.3f}",
        "--step", "2s", "--output", str(path), "--no-progress",
    ]) == 0
    return path.read_text()


def test_collector_serves_exemplars_to_openmetrics_scrapers(
    with_ids: Deployment,
) -> None:
    [collector] = with_ids.collectors
    request = urllib.request.Request(collector.metrics_url, headers={
        "Accept": "application/openmetrics-text; version=1.0.0"})
    with urllib.request.urlopen(request, timeout=10) as page:
        text = page.read().decode()
    exemplars = [line for line in text.splitlines()
                 if line.startswith("openstack_api_request_duration_seconds_bucket")
                 and ' # {request_id="' in line]
    assert exemplars
    sent = with_ids.traffic.request_ids
    for line in exemplars:
        request_id = line.split('request_id="', 1)[1].split('"', 1)[0]
        assert request_id.startswith("req-") and request_id in sent, line
    # Plain-text scrapers get no exemplars.
    assert ' # {request_id="' not in collector.scrape()


def test_report_lists_the_slowest_request_ids(
    with_ids: Deployment, tmp_path: Path,
) -> None:
    report = json.loads(_report(with_ids, "prometheus", tmp_path / "r.json"))
    assert report["exemplars"] is True
    sent: Traffic = with_ids.traffic
    assert len(sent.request_ids) == sum(PLAN.values())
    listed = 0
    for endpoint in report["endpoints"]:
        key = (endpoint["service"], endpoint["method"], endpoint["route"])
        slowest = endpoint["slowest_requests"]
        assert 1 <= len(slowest) <= 5, key
        seconds = [r["seconds"] for r in slowest]
        assert seconds == sorted(seconds, reverse=True)
        for request in slowest:
            # Each id is a request of this endpoint, and the exemplar's
            # value is the filter's duration of that request: at most what
            # the client measured around the filter.
            endpoint_of, client_seconds = sent.request_ids[request["request_id"]]
            assert endpoint_of == key
            assert 0 < request["seconds"] <= client_seconds
            listed += 1
    assert listed >= len(PLAN)
    page = _report(with_ids, "prometheus", tmp_path / "r.html", "html")
    first = report["endpoints"][0]["slowest_requests"][0]["request_id"]
    assert f"<code>{first} (" in page


def test_engine_without_exemplar_storage(
    with_ids: Deployment, tmp_path: Path,
) -> None:
    report = json.loads(_report(with_ids, "victoriametrics",
                                tmp_path / "r.json"))
    assert report["exemplars"] is False
    assert all(e["slowest_requests"] == [] for e in report["endpoints"])
    assert sum(e["requests"] for e in report["endpoints"]) == sum(PLAN.values())


@pytest.mark.parametrize("command", [STOCK_DAEMON, COLLECTOR],
                         ids=["stock-daemon", "collector"])
def test_rows_with_request_ids_on_either_daemon(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """The optional last field keeps the datagram in upstream's format."""
    rows = [
        protocol.sample("compute", "GET", "/v2.1/servers", 200, 0.0123, 0, 10,
                        request_id="req-one"),
        protocol.sample("compute", "GET", "/v2.1/servers", 200, 0.0004, 0, 10),
    ]
    with CollectorProcess(workdir=tmp_path, command=command) as collector:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(protocol.encode_batch(rows),
                          str(collector.socket_path))
        request = urllib.request.Request(collector.metrics_url, headers={
            "Accept": "application/openmetrics-text; version=1.0.0"})
        deadline = time.monotonic() + 30
        while True:
            with urllib.request.urlopen(request, timeout=10) as page:
                text = page.read().decode()
            if "_count{" in text or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    [count] = [line for line in text.splitlines() if line.startswith(
        "openstack_api_request_duration_seconds_count{")]
    assert count.endswith(" 2.0")
    [bucket] = [line for line in text.splitlines() if 'le="0.025"' in line
                and line.startswith("openstack_api_request_duration_seconds_bucket")]
    assert ' # {request_id="req-one"} 0.0123 ' in bucket
