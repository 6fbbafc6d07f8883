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

"""Compatibility with the upstream oslo.metrics daemon and oslo.messaging.

The filter's datagrams stay in upstream's format: the stock daemon, with
this project's metric module loaded, records them exactly as the collector
does, in either batch format.  oslo.messaging's RPC metrics, sent by
oslo.messaging's own client code, are served by the collector exactly as
by the stock daemon.
"""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys
import time

from prometheus_client.parser import text_string_to_metric_families
import pytest

from oslo_metrics_middleware.collector.process import COLLECTOR
from oslo_metrics_middleware.collector.process import STOCK_DAEMON
from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import collectors
from tests.functional import servers

DAEMONS = pytest.mark.parametrize(
    "command", [STOCK_DAEMON, COLLECTOR], ids=["stock-daemon", "collector"]
)
REQUESTS = 20
CALLS = 7


@DAEMONS
@pytest.mark.parametrize("batch_format", [2, 3])
def test_filter_datagrams_are_ingested(
    tmp_path: Path, command: tuple[str, ...], batch_format: int
) -> None:
    route = {"service": "compute", "method": "GET", "route": servers.SERVER_ROUTE}
    with CollectorProcess(workdir=tmp_path, command=command) as collector:
        env = servers.server_env(collector.socket_path, batch_format=batch_format)
        with servers.python_server("wsgiref_server", tmp_path, env) as server:
            answers = [servers.get_server(server.port) for _ in range(REQUESTS)]
            # The server flushes its last samples within an interval.
            series = servers.wait_for(
                collector,
                lambda s: servers.requests_counted(s) >= REQUESTS,
                timeout=collectors.WAIT,
            )
    assert {status for status, _, _ in answers} == {200}
    body = len(answers[0][2])
    assert servers.value(
        series, f"{servers.DURATION}_count", **route, status="200"
    ) == REQUESTS
    assert servers.requests_counted(series) == REQUESTS
    assert servers.value(
        series, "openstack_api_response_size_bytes_sum", **route
    ) == REQUESTS * body
    assert servers.value(
        series, "openstack_api_request_size_bytes_count", **route
    ) == REQUESTS


def _rpc_samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """oslo.messaging's samples whose values do not depend on timing."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("oslo_messaging_") and not sample.name.endswith(
                ("_created", "_sum", "_bucket")
            ):
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def _send_rpc_metrics(socket_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "tests.functional.apps.rpc_metrics",
         str(socket_path), str(CALLS)],
        check=True, timeout=60, cwd=servers.REPO, capture_output=True,
    )


def _served_rpc_metrics(tmp_path: Path, command: tuple[str, ...]) -> dict[
    tuple[str, frozenset[tuple[str, str]]], float
]:
    tmp_path.mkdir()
    with CollectorProcess(workdir=tmp_path, command=command) as collector:
        _send_rpc_metrics(collector.socket_path)
        # The client has exited: everything it sent is queued or read.
        deadline = time.monotonic() + collectors.WAIT
        while True:
            samples = _rpc_samples(collector.scrape())
            started = sum(
                amount for (name, _), amount in samples.items()
                if name == "oslo_messaging_rpc_client_invocation_start_total"
            )
            if started >= CALLS + 1 or time.monotonic() > deadline:
                return samples
            time.sleep(0.05)


def test_rpc_metrics_are_served_as_upstream_serves_them(tmp_path: Path) -> None:
    stock = _served_rpc_metrics(tmp_path / "stock", STOCK_DAEMON)
    ours = _served_rpc_metrics(tmp_path / "ours", COLLECTOR)
    labels = {
        "call_type": "call", "exchange": "None", "topic": "conductor",
        "namespace": "None", "version": "1.3", "server": "None",
        "fanout": "None", "process": "conductor-1", "method": "ping",
        "timeout": "None",
    }

    def key(name: str, **extra: str) -> tuple[str, frozenset[tuple[str, str]]]:
        labelled = frozenset({**labels, **extra}.items())
        return (f"oslo_messaging_rpc_client_{name}", labelled)

    assert ours[key("invocation_start_total")] == CALLS + 1
    assert ours[key("invocation_end_total")] == CALLS
    assert ours[key("processing_seconds_count")] == CALLS
    assert ours[key("exception_total", exception="ValueError")] == 1
    assert ours == stock
