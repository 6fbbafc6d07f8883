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

"""pecan object dispatch: RestController resources and neutron-style hooks."""

from __future__ import annotations

from typing import Any

import pecan
from pecan import hooks
from pecan import rest
import webob

from oslo_metrics_middleware import MetricsMiddleware
from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional.test_placement import scrape_rows

NET = "0a6e5bb3-3f4c-4b7e-9c0d-6c2a4d1f8e21"
PORT = "9a6e5bb3-3f4c-4b7e-9c0d-6c2a4d1f8e22"


class NetworksController(rest.RestController):
    @pecan.expose("json")
    def get_all(self) -> Any:
        return {"networks": []}

    @pecan.expose("json")
    def get_one(self, network_id: str) -> Any:
        return {"network": {"id": network_id}}


class V2Controller:
    networks = NetworksController()
    ports = NetworksController()


class RootController:
    @pecan.expose("json")
    def index(self) -> Any:
        return {"versions": []}

    v2 = V2Controller()


class ResourceIdentifierHook(hooks.PecanHook):
    """Sets the request context keys the way neutron's hooks do."""

    def before(self, state: Any) -> None:
        parts = [part for part in state.request.path_info.split("/") if part]
        if len(parts) >= 2:
            state.request.context["collection"] = parts[1].split(".")[0]
        if len(parts) >= 3:
            state.request.context["resource_id"] = parts[2].split(".")[0]


def test_pecan_templates_from_its_context(collector: CollectorProcess) -> None:
    app = pecan.make_app(RootController(), hooks=[ResourceIdentifierHook()])
    filtered = MetricsMiddleware(
        app,
        {"service_name": "network", "metrics_socket_file": str(collector.socket_path)},
    )
    paths = [
        "/v2/networks",
        f"/v2/networks/{NET}",
        f"/v2/networks/{NET}.json",
        f"/v2/ports/{PORT}",
        "/",
        "/v2/nothing/here",
    ]
    statuses = []
    for path in paths:
        response = webob.Request.blank(path).get_response(filtered)
        assert response.body is not None  # read and closed, as a server would
        statuses.append(response.status_int)
    filtered.sender.flush()

    assert statuses == [200, 200, 200, 200, 200, 404]
    assert scrape_rows(collector, len(paths)) == {
        ("GET", "/v2/networks", "200"): 1,
        ("GET", "/v2/networks/{id}", "200"): 2,
        ("GET", "/v2/ports/{id}", "200"): 1,
        ("GET", "/", "200"): 1,
        ("GET", "__unmatched__", "404"): 1,
    }
