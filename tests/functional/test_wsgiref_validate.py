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

"""A threaded wsgiref server, the filter between two PEP 3333 validators.

The server runs validator(filter(validator(api))) with every warning
turned into an error; a validation failure would show as a traceback in
its log and as a 500 where another status is expected.
"""

from __future__ import annotations

import json
from pathlib import Path

from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import servers

SHOW = servers.SERVER_PATH
SHOW_ROUTE = servers.SERVER_ROUTE
CONSOLE_ROUTE = "/v2.1/servers/{id}/os-console-log"
CONSOLE_BODY = b"".join(b"console line %d\n" % n for n in range(20))
CREATE_BODY = json.dumps({"server": {"name": "vm", "pad": "x" * 40}}).encode()
SHOW_BODY = b'{"server": {}}'
GETS = 10


def test_validated_filter_on_a_threaded_server(
    collector: CollectorProcess, tmp_path: Path
) -> None:
    env = servers.server_env(collector.socket_path)
    with servers.python_server(
        "wsgiref_server", tmp_path, env, "--validate"
    ) as server:
        port = server.port
        gets = servers.run_parallel(
            lambda: servers.request("GET", SHOW, port), GETS, concurrency=4
        )
        create = servers.request(
            "POST", "/v2.1/servers", port, CREATE_BODY,
            {"Content-Type": "application/json"},
        )
        console = servers.request("GET", f"{SHOW}/os-console-log", port)
        legacy = servers.request("GET", "/v2.1/legacy", port)
        crash = servers.request("GET", "/v2.1/os-crash", port)
        head = servers.request("HEAD", SHOW, port)
        missing = servers.request("GET", "/v2.1/no/such/path", port)
        sent = GETS + 6
        series = servers.wait_for(
            collector,
            lambda s: servers.requests_counted(s) >= sent,
            timeout=5,
        )
        series = servers.settle(collector)
        log = server.log()

    assert [(status, body) for status, _, body in gets] == (
        [(200, SHOW_BODY)] * GETS
    )
    assert create[0] == 202
    assert create[2] == CREATE_BODY
    assert console[0] == 200
    assert console[2] == CONSOLE_BODY
    assert legacy[0] == 200
    assert legacy[2] == b"legacy"
    assert crash[0] == 500
    assert head[0] == 200
    assert head[2] == b""
    assert missing[0] == 404

    # The only traceback is the deliberate crash; no validator complaint.
    assert log.count("Traceback") == 1, log
    assert "CrashError" in log
    assert "AssertionError" not in log
    assert "Warning" not in log
    assert "SERVER-ERROR" not in log

    def count(method: str, route: str, status: str) -> float:
        return servers.value(
            series, f"{servers.DURATION}_count", service="compute",
            method=method, route=route, status=status,
        )

    def size(kind: str, method: str, route: str, stat: str) -> float:
        return servers.value(
            series, f"openstack_api_{kind}_size_bytes_{stat}",
            service="compute", method=method, route=route,
        )

    assert count("GET", SHOW_ROUTE, "200") == GETS
    assert count("POST", "/v2.1/servers", "202") == 1
    assert count("GET", CONSOLE_ROUTE, "200") == 1
    assert count("GET", "/v2.1/legacy", "200") == 1
    assert count("GET", "/v2.1/os-crash", "500") == 1
    assert count("HEAD", SHOW_ROUTE, "200") == 1
    assert count("GET", "__unmatched__", "404") == 1
    assert servers.requests_counted(series) == sent

    assert size("request", "POST", "/v2.1/servers", "sum") == len(
        CREATE_BODY
    )
    assert size("response", "GET", SHOW_ROUTE, "sum") == GETS * len(
        SHOW_BODY
    )
    assert size("response", "GET", CONSOLE_ROUTE, "sum") == len(CONSOLE_BODY)
    assert size("response", "GET", "/v2.1/legacy", "sum") == len(b"legacy")
    assert size("response", "HEAD", SHOW_ROUTE, "sum") == 0
    assert size("response", "HEAD", SHOW_ROUTE, "count") == 1
    assert servers.value(
        series, "openstack_api_exceptions_total", service="compute",
        method="GET", route="/v2.1/os-crash", exception="CrashError",
    ) == 1
    assert servers.total(series, servers.DROPPED) == 0
