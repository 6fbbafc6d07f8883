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

"""Placement from PyPI, standalone on SQLite, measured by the filter.

Real requests over many of Placement's routes go through the filter around
``placement.deploy.loadapp`` and on to a real collector.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
import re
import time
from typing import Any
import uuid

import pytest
import webob

from oslo_metrics_middleware import MetricsMiddleware
from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional.apps import placement_app as standalone

pytest.importorskip("placement.conf")
from placement import handler

MOUNT = "/placement"
ADMIN = {"X-Auth-Token": "admin", "Content-Type": "application/json"}
LATEST = {**ADMIN, "OpenStack-API-Version": "placement 1.39"}
TEMPLATES = {
    MOUNT + ("/" + key.strip("/")).rstrip("/") for key in handler.ROUTE_DECLARATIONS
}
ID_PATTERN = re.compile(r"[0-9a-f]{8}-|[0-9a-f]{32}|CUSTOM_|DISK_GB|VCPU")


@pytest.fixture(scope="module")
def placement_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    workdir = tmp_path_factory.mktemp("placement")
    return standalone.build(standalone.write_config(workdir))


class Client:
    """Sends requests to the filtered app, as mounted under /placement."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[tuple[str, int]] = []

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> webob.Response:
        request = webob.Request.blank(
            path, method=method, headers=LATEST if headers is None else headers
        )
        request.script_name = MOUNT
        if body is not None:
            request.body = json.dumps(body).encode()
        response = request.get_response(self.app)
        assert response.body is not None  # read and closed, as a server would
        self.seen.append((method, response.status_int))
        return response


@pytest.fixture
def client(placement_app: Any, collector: CollectorProcess) -> Iterator[Client]:
    filtered = MetricsMiddleware(
        placement_app,
        {
            "service_name": "placement",
            "metrics_socket_file": str(collector.socket_path),
            "flush_interval": "0.05",
        },
    )
    yield Client(filtered)


def drive(client: Client) -> dict[str, int]:
    """Real traffic over Placement's routes; returns statuses by name."""
    rp, consumer, project, user = (str(uuid.uuid4()) for _ in range(4))
    agg = str(uuid.uuid4())
    statuses: dict[str, int] = {}

    def send(name: str, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        response = client(method, path, body, **kw)
        statuses[name] = response.status_int
        return response

    send("root", "GET", "/")
    send("create rp", "POST", "/resource_providers", {"name": "cn1", "uuid": rp})
    send("list rps", "GET", "/resource_providers")
    send("show rp", "GET", f"/resource_providers/{rp}")
    send("update rp", "PUT", f"/resource_providers/{rp}", {"name": "cn1-renamed"})
    inventories = {
        "resource_provider_generation": 0,
        "inventories": {"VCPU": {"total": 8}, "DISK_GB": {"total": 100}},
    }
    send("set inventories", "PUT", f"/resource_providers/{rp}/inventories", inventories)
    send("list inventories", "GET", f"/resource_providers/{rp}/inventories")
    send("show inventory", "GET", f"/resource_providers/{rp}/inventories/VCPU")
    send("create class", "POST", "/resource_classes", {"name": "CUSTOM_GOLD"})
    send("list classes", "GET", "/resource_classes")
    send("show class", "GET", "/resource_classes/CUSTOM_GOLD")
    send("put trait", "PUT", "/traits/CUSTOM_FAST")
    send("list traits", "GET", "/traits")
    send("show trait", "GET", "/traits/CUSTOM_FAST")
    rp_traits = {"resource_provider_generation": 1, "traits": ["CUSTOM_FAST"]}
    send("rp traits", "PUT", f"/resource_providers/{rp}/traits", rp_traits)
    send("get rp traits", "GET", f"/resource_providers/{rp}/traits")
    aggregates = {"resource_provider_generation": 2, "aggregates": [agg]}
    send("rp aggregates", "PUT", f"/resource_providers/{rp}/aggregates", aggregates)
    allocation = {
        "allocations": {rp: {"resources": {"VCPU": 2}}},
        "project_id": project,
        "user_id": user,
        "consumer_generation": None,
        "consumer_type": "INSTANCE",
    }
    send("allocate", "PUT", f"/allocations/{consumer}", allocation)
    send("show allocations", "GET", f"/allocations/{consumer}")
    send("rp allocations", "GET", f"/resource_providers/{rp}/allocations")
    send("rp usages", "GET", f"/resource_providers/{rp}/usages")
    send("usages", "GET", f"/usages?project_id={project}")
    send("candidates", "GET", "/allocation_candidates?resources=VCPU:1")
    send("delete allocations", "DELETE", f"/allocations/{consumer}")
    # Errors: a missing provider (404 on a matched route), no such path
    # and a trailing slash (404), no token (401), a method the route lacks
    # (405), a bad microversion (406).
    send("missing rp", "GET", f"/resource_providers/{uuid.uuid4()}")
    send("no such path", "GET", f"/nothing/{uuid.uuid4()}")
    send("trailing slash", "GET", f"/resource_providers/{rp}/")
    send("no token", "GET", f"/resource_providers/{rp}", headers={})
    send("bad method", "PATCH", f"/resource_providers/{rp}")
    bad_version = {**ADMIN, "OpenStack-API-Version": "placement 9.99"}
    send("bad version", "GET", "/traits", headers=bad_version)
    return statuses


def scrape_rows(
    collector: CollectorProcess, expected: int
) -> dict[tuple[str, ...], float]:
    """Duration counts by (method, route, status), once all have arrived."""
    deadline = time.monotonic() + 10
    while True:
        counts: dict[tuple[str, ...], float] = {}
        for line in collector.scrape().splitlines():
            if line.startswith("openstack_api_request_duration_seconds_count{"):
                labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
                key = (labels["method"], labels["route"], labels["status"])
                counts[key] = float(line.rsplit(" ", 1)[1])
        if sum(counts.values()) >= expected or time.monotonic() > deadline:
            return counts
        time.sleep(0.1)


def test_every_label_is_a_placement_route(
    client: Client, collector: CollectorProcess
) -> None:
    statuses = drive(client)
    counts = scrape_rows(collector, len(client.seen))

    assert statuses == {
        "root": 200,
        "create rp": 200,
        "list rps": 200,
        "show rp": 200,
        "update rp": 200,
        "set inventories": 200,
        "list inventories": 200,
        "show inventory": 200,
        "create class": 201,
        "list classes": 200,
        "show class": 200,
        "put trait": 201,
        "list traits": 200,
        "show trait": 204,
        "rp traits": 200,
        "get rp traits": 200,
        "rp aggregates": 200,
        "allocate": 204,
        "show allocations": 200,
        "rp allocations": 200,
        "rp usages": 200,
        "usages": 200,
        "candidates": 200,
        "delete allocations": 204,
        "missing rp": 404,
        "no such path": 404,
        "trailing slash": 404,
        "no token": 401,
        "bad method": 405,
        "bad version": 406,
    }
    assert sum(counts.values()) == len(client.seen)
    routes = {route for _, route, _ in counts}
    for method, route, status in counts:
        if status in ("401", "404"):
            assert route in TEMPLATES | {"__unmatched__"}
        else:
            assert route in TEMPLATES, (method, route, status)
        assert not ID_PATTERN.search(route), route
    assert len(routes - {"__unmatched__"}) >= 15
    rp = f"{MOUNT}/resource_providers/{{uuid}}"
    assert counts[("GET", rp, "200")] == 1
    assert counts[("GET", rp, "404")] == 1
    assert counts[("PATCH", rp, "405")] == 1
    assert counts[("GET", "__unmatched__", "401")] == 1
    assert counts[("GET", "__unmatched__", "404")] == 2
    assert counts[("GET", f"{MOUNT}/traits", "406")] == 1
    assert counts[("GET", f"{rp}/inventories/{{resource_class}}", "200")] == 1
    assert counts[("PUT", f"{MOUNT}/allocations/{{consumer_uuid}}", "204")] == 1
    assert counts[("GET", MOUNT, "200")] == 1
