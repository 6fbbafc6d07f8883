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

"""eventlet.wsgi with eventlet.monkey_patch(), as OpenStack services run."""

from __future__ import annotations

from collections import Counter
import json
from pathlib import Path

from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import servers

SHOWS = 60
CREATES = 20
MISSING = 20


def _create(port: int) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"server": {"name": "vm"}}).encode()
    return servers.request(
        "POST", "/v2.1/servers", port, body,
        {"Content-Type": "application/json"},
    )


def test_green_threads_deliver_concurrent_requests(
    collector: CollectorProcess, tmp_path: Path
) -> None:
    env = servers.server_env(collector.socket_path)
    missing = "/v2.1/servers/" + "f" * 32
    calls = (
        [lambda port: servers.get_server(port)] * SHOWS
        + [_create] * CREATES
        + [lambda port: servers.request("GET", missing, port)] * MISSING
    )
    sent = len(calls)
    with servers.python_server("eventlet_server", tmp_path, env) as server:
        pending = iter(calls)

        def next_call() -> tuple[int, dict[str, str], bytes]:
            return next(pending)(server.port)

        responses = servers.run_parallel(next_call, sent, concurrency=16)
        # The flusher is a green thread: delivery needs no more requests.
        series = servers.wait_for(
            collector,
            lambda s: servers.requests_counted(s) >= sent,
            timeout=5,
        )
        series = servers.settle(collector)
        log = server.log()

    assert Counter(status for status, _, _ in responses) == {
        200: SHOWS, 202: CREATES, 404: MISSING,
    }
    count = f"{servers.DURATION}_count"
    route = servers.SERVER_ROUTE
    assert servers.value(
        series, count, service="compute", method="GET", route=route,
        status="200",
    ) == SHOWS
    assert servers.value(
        series, count, service="compute", method="GET", route=route,
        status="404",
    ) == MISSING
    assert servers.value(
        series, count, service="compute", method="POST",
        route="/v2.1/servers", status="202",
    ) == CREATES
    request_size = json.dumps({"server": {"name": "vm"}}).encode()
    assert servers.value(
        series, "openstack_api_request_size_bytes_sum", service="compute",
        method="POST", route="/v2.1/servers",
    ) == CREATES * len(request_size)
    assert servers.requests_counted(series) == sent
    assert servers.total(series, servers.DROPPED) == 0
    assert "Traceback" not in log
