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

"""Applications behind real routers, and the prometheus_client baseline.

Shared by the benchmarks.  Every routing case has a real router doing its
real matching on every request, and the baseline gets the same four labels
(service, method, route, status) the filter exports, each computed the
cheapest way a user of in-process prometheus_client would:

- Routes: the ``routepath`` of the Route that RoutesMiddleware left;
- Placement: each handler of the route table wrapped to name its template;
- Flask: ``request.url_rule.rule`` from a ``request_started`` receiver;
- pecan: the controller's qualified name from a pecan hook;
- no router: one regular expression replacing ids in the raw path.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
import io
import json
import os
import re
import sys
import time
from typing import Any
import uuid

import prometheus_client
import routes
import routes.middleware

App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
RouteOf = Callable[[dict[str, Any]], str]
BODY = [b'{"server": {"id": "1"}}']
LABEL_KEY = "bench.route"
SERVICE = "compute"
NOVA_COLLECTIONS = (
    "flavors",
    "images",
    "os-keypairs",
    "os-aggregates",
    "os-hypervisors",
    "os-services",
    "servers",
    "os-volumes",
    "os-networks",
    "os-quota-sets",
)


def fresh_id(index: int) -> str:
    """A UUID no other request of the run carries."""
    return str(uuid.UUID(int=(index * 0x9E3779B97F4A7C15 + os.getpid()) % 2**128))


def make_environ(
    script_name: str,
    path: str,
    method: str = "GET",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A fresh WSGI environ, as a server builds it for each request."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8774",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8774",
        "HTTP_ACCEPT": "application/json",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **(headers or {}),
    }
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["CONTENT_TYPE"] = "application/json"
    return environ


def trivial_app(
    environ: dict[str, Any], start_response: Callable[..., Any]
) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "application/json")])
    return BODY


# -- routers ---------------------------------------------------------------


def nova_like_routes(prefix: str = "") -> App:
    """RoutesMiddleware over a Mapper shaped like nova's: every resource
    with and without a project id, matched on every request."""
    mapper = routes.Mapper()
    for collection in NOVA_COLLECTIONS:
        member = collection.rstrip("s")
        actions = {"action": "POST"}
        mapper.resource(
            member, collection, path_prefix=prefix + "/{project_id}", member=actions
        )
        mapper.resource(member, collection, path_prefix=prefix or None, member=actions)
    return routes.middleware.RoutesMiddleware(trivial_app, mapper)


def placement_app(label: bool = False) -> App:
    """Placement's own route table and dispatch, handlers made trivial.

    With ``label`` each handler names its template in the environ, the
    cheapest way to learn it since Placement leaves none behind.
    """
    from placement import handler  # slow to import: only when needed

    declarations: dict[str, dict[str, Any]] = {}
    for template, targets in handler.ROUTE_DECLARATIONS.items():
        target = _labelling(trivial_app, template) if label else trivial_app
        declarations[template] = dict.fromkeys(targets, target)
    mapper = handler.make_map(declarations)

    def app(
        environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        environ["placement.context"] = None  # as its context middleware does
        result: Iterable[bytes] = handler.dispatch(environ, start_response, mapper)
        return result

    return app


def _labelling(app: App, template: str) -> App:
    def labelled(
        environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        environ[LABEL_KEY] = template
        return app(environ, start_response)

    return labelled


def flask_app(label: bool = False) -> App:
    """A keystone-shaped Flask app; ``label`` adds the user's receiver."""
    import flask

    app = flask.Flask(f"bench{int(label)}")
    for collection in ("users", "projects", "groups", "domains", "roles"):
        app.add_url_rule(
            f"/v3/{collection}/<string:item_id>",
            f"get_{collection}",
            lambda item_id: flask.Response(BODY[0], mimetype="application/json"),
        )
    if label:

        def remember(sender: Any, **extra: Any) -> None:
            rule = flask.request.url_rule
            flask.request.environ[LABEL_KEY] = rule.rule if rule else ""

        flask.request_started.connect(remember, app, weak=False)
    return app.wsgi_app  # type: ignore[no-any-return]


def pecan_app(label: bool = False) -> App:
    """A neutron-shaped pecan RestController app; ``label`` adds a hook."""
    import pecan
    from pecan import hooks
    from pecan import rest

    class NetworksController(rest.RestController):
        @pecan.expose("json")
        def get_one(self, network_id: str) -> dict[str, str]:
            return {"id": network_id}

    class V2Controller:
        networks = NetworksController()
        ports = NetworksController()

    class RootController:
        @pecan.expose("json")
        def index(self) -> dict[str, str]:
            return {}

    RootController.v2 = V2Controller()  # type: ignore[attr-defined]

    class NeutronContext(hooks.PecanHook):  # type: ignore[misc]
        """What neutron's hooks leave in the request context."""

        def on_route(self, state: Any) -> None:
            parts = state.request.path_info.split("/")
            state.request.context.update(
                collection=parts[2], resource_id=parts[3] if len(parts) > 3 else None
            )

    class ControllerLabel(hooks.PecanHook):  # type: ignore[misc]
        def before(self, state: Any) -> None:
            state.request.environ[LABEL_KEY] = state.controller.__qualname__

    return pecan.make_app(  # type: ignore[no-any-return]
        RootController(),
        hooks=[NeutronContext(), *([ControllerLabel()] if label else [])],
        force_canonical=False,
    )


# -- the baseline ------------------------------------------------------------

# What a user writes for paths no router names: uuids and integers become
# {id}, in C, in one pass over the path.
_ID_SEGMENT = re.compile(
    r"/(?:[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
    r"[0-9a-fA-F]{12}|\d+)(?=/|$)"
)


def route_from_path(environ: dict[str, Any]) -> str:
    return _ID_SEGMENT.sub("/{id}", environ["PATH_INFO"])


def route_from_routes(environ: dict[str, Any]) -> str:
    route = environ.get("routes.route")
    return route.routepath if route is not None else ""  # type: ignore[no-any-return]


def route_from_label(environ: dict[str, Any]) -> str:
    return environ.get(LABEL_KEY, "")  # type: ignore[no-any-return]


class MinimalMeasure:
    """The least a measuring middleware does, and nothing it must also do.

    It times the request, reads the status and the same route the
    prometheus_client variant reads, and keeps the four in a list that is
    emptied, not delivered, every FULL requests: no label checks, no
    request id, no sizes, no delivery.  A floor, not an alternative.
    """

    FULL = 400

    def __init__(self, app: App, route_of: RouteOf) -> None:
        self.app = app
        self.route_of = route_of
        self.kept: list[tuple[str, str, str, int]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        started = time.monotonic_ns()
        statuses: list[str] = []

        def seen(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses.append(status)
            return start_response(status, headers, exc_info)

        body = self.app(environ, seen)
        kept = self.kept
        kept.append(
            (
                environ["REQUEST_METHOD"],
                self.route_of(environ),
                statuses[0],
                time.monotonic_ns() - started,
            )
        )
        if len(kept) >= self.FULL:
            kept.clear()
        return body


class PrometheusInProcess:
    """Histogram.observe + Counter.inc with the filter's four labels.

    One registry per instance, so variants do not share children.
    Subclasses add labels found before the application runs.
    """

    extra_labels: tuple[str, ...] = ()

    def __init__(self, app: App, route_of: RouteOf) -> None:
        self.app = app
        self.route_of = route_of
        self.registry = prometheus_client.CollectorRegistry()
        labels = ("service", "method", "route", "status", *self.extra_labels)
        self.duration = prometheus_client.Histogram(
            "api_request_duration_seconds", "", labels, registry=self.registry
        )
        self.requests = prometheus_client.Counter(
            "api_requests", "", labels, registry=self.registry
        )

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        started = time.monotonic()
        extra = self.before(environ)
        status = ""

        def capture(status_line: str, headers: Any, exc_info: Any = None) -> Any:
            nonlocal status
            status = status_line[:3]
            return start_response(status_line, headers, exc_info)

        result = self.app(environ, capture)
        labels = (
            SERVICE,
            environ["REQUEST_METHOD"],
            self.route_of(environ),
            status,
            *extra,
        )
        self.duration.labels(*labels).observe(time.monotonic() - started)
        self.requests.labels(*labels).inc()
        return result

    def before(self, environ: dict[str, Any]) -> tuple[str, ...]:
        return ()


class ActionPrometheus(PrometheusInProcess):
    """The baseline with action and microversion labels: the first key of
    the JSON body, read ahead, and the header's last word."""

    extra_labels = ("action", "microversion")

    def before(self, environ: dict[str, Any]) -> tuple[str, ...]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        action = next(iter(json.loads(body)), "") if body else ""
        version = environ.get("HTTP_OPENSTACK_API_VERSION", "").rsplit(" ", 1)[-1]
        return action, version
