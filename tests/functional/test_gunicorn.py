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

"""gunicorn --preload: the app is built in the master, workers send."""

from __future__ import annotations

from pathlib import Path

from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import servers
from tests.functional.apps import PID_HEADER

REQUESTS = 60
SLOW_PATH = "/v2.1/os-hypervisors/statistics"
SLOW_ROUTE = "/v2.1/os-hypervisors/statistics"


def test_preloaded_sync_workers_both_deliver(
    collector: CollectorProcess, tmp_path: Path
) -> None:
    env = servers.server_env(collector.socket_path)
    with servers.gunicorn_server(tmp_path, env, workers=2) as server:
        # Slow requests from more clients than workers: both sync workers
        # must accept while the other is busy.
        responses = servers.run_parallel(
            lambda: servers.request("GET", SLOW_PATH, server.port),
            REQUESTS,
            concurrency=4,
        )
        statuses = [status for status, _, _ in responses]
        pids = {headers[PID_HEADER] for _, headers, _ in responses}
        master = str(server.process.pid) if server.process else ""
        series = servers.wait_for(
            collector,
            lambda s: servers.requests_counted(s) >= REQUESTS,
            timeout=10,
        )
        series = servers.settle(collector)

    assert statuses == [200] * REQUESTS
    assert len(pids) == 2
    assert master not in pids
    labels = {"service": "compute", "method": "GET", "route": SLOW_ROUTE}
    duration_count = f"{servers.DURATION}_count"
    assert servers.value(series, duration_count, status="200", **labels) == (
        REQUESTS
    )
    assert servers.requests_counted(series) == REQUESTS
    assert servers.total(series, servers.DROPPED) == 0
