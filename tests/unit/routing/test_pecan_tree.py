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

"""Templates from an ironic-shaped pecan controller tree."""

from __future__ import annotations

from typing import Any

import pecan
from pecan import hooks
from pecan import rest
import pytest

from oslo_metrics_middleware.routing import RouteResolver
from oslo_metrics_middleware.routing import pecan_tree
from tests.unit.routing.test_resolvers import UUID
from tests.unit.routing.test_resolvers import env
from tests.wsgi import call
from tests.wsgi import environ


class StatesController(rest.RestController):
    _custom_actions = {"power": ["PUT"], "provision": ["PUT"]}

    @pecan.expose("json")
    def get(self, node_ident: str) -> Any:
        return {}

    @pecan.expose("json")
    def power(self, node_ident: str) -> Any:
        return {}


class BiosController(rest.RestController):
    def __init__(self, node_ident: str = "") -> None:
        self.node_ident = node_ident

    @pecan.expose("json")
    def get_one(self, setting_name: str) -> Any:
        return {}


class NodesController(rest.RestController):
    states = StatesController()
    _custom_actions = {"detail": ["GET"]}
    _subcontroller_map = {"bios": BiosController}

    @pecan.expose("json")
    def get_all(self) -> Any:
        return {"nodes": []}

    @pecan.expose("json")
    def get_one(self, node_ident: str) -> Any:
        if node_ident == "missing":
            pecan.abort(404)
        return {}

    @pecan.expose("json")
    def detail(self) -> Any:
        return {}

    @pecan.expose()
    def _lookup(self, ident: str, *remainder: str) -> Any:
        if remainder and remainder[0] in self._subcontroller_map:
            return self._subcontroller_map[remainder[0]](ident), remainder[1:]
        pecan.abort(404)


class V1Controller:
    _subcontroller_map = {"nodes": NodesController()}

    @pecan.expose("json")
    def index(self) -> Any:
        return {}

    @pecan.expose()
    def _lookup(self, primary_key: str, *remainder: str) -> Any:
        controller = self._subcontroller_map.get(primary_key)
        if controller is None:
            pecan.abort(404)
        return controller, remainder


V1 = V1Controller()


class RootController:
    @pecan.expose("json")
    def index(self) -> Any:
        return {}

    @pecan.expose()
    def _lookup(self, primary_key: str, *remainder: str) -> Any:
        return V1, remainder


class RequestContext:
    """ironic's request context: an object, not pecan's dict."""


class ContextHook(hooks.PecanHook):
    # Runs only once pecan found a controller, as ironic's does.
    def before(self, state: Any) -> None:
        state.request.context = RequestContext()


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/", "/"),
        ("/v1", "/v1"),
        ("/v1/nodes", "/v1/nodes"),
        ("/v1/nodes/detail", "/v1/nodes/detail"),
        (f"/v1/nodes/{UUID}", "/v1/nodes/{node_ident}"),
        ("/v1/nodes/node-ovqdyf", "/v1/nodes/{node_ident}"),
        ("/v1/nodes/node-ovqdyf/states", "/v1/nodes/{node_ident}/states"),
        (f"/v1/nodes/{UUID}/states/power", "/v1/nodes/{node_ident}/states/power"),
        ("/v1/nodes/node-ovqdyf/states/power", "/v1/nodes/{node_ident}/states/power"),
        (
            "/v1/nodes/node-1/bios/ProcVirtualization",
            "/v1/nodes/{node_ident}/bios/{setting_name}",
        ),
        ("/v1/nosuch", None),
        ("/v1/nodes/node-1/nosuch", None),
        ("/v1/nodes/node-1/states/power/extra", None),
        ("/v1/nodes/a/b", None),
    ],
)
def test_templates_follow_the_controllers(path: str, template: str | None) -> None:
    assert pecan_tree.ControllerTree(RootController()).match(path) == template


def test_resolver_labels_real_pecan_requests_by_their_tree() -> None:
    app = pecan.make_app(RootController(), hooks=[ContextHook()])
    resolver = RouteResolver(50, resolvers=("pecan",))
    seen = []
    for path in (
        "/v1/nodes/node-ovqdyf",
        f"/v1/nodes/{UUID}",
        "/v1/nodes/missing",
        "/v1/nodes/node-ovqdyf/bios/ProcVirtualization",
        "/v1/nosuch",
    ):
        request = environ("GET", path)
        status, _ = call(app, request)
        seen.append((status[:3], resolver.resolve(request, int(status[:3]))))
    assert seen == [
        ("200", "/v1/nodes/{node_ident}"),
        ("200", "/v1/nodes/{node_ident}"),
        ("404", "/v1/nodes/{node_ident}"),
        ("200", "/v1/nodes/{node_ident}/bios/{setting_name}"),
        ("404", "__unmatched__"),
    ]
    assert resolver.resolve(env("/x", **{"pecan.locals": {}}), 200) == "__unmatched__"
