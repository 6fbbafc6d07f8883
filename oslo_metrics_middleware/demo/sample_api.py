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

"""A Routes-based API shaped like nova's, for the demo and the tests.

Each route is connected with and without a project id, as nova's
ProjectMapper does, and the app is mounted under ``/v2.1`` by paste urlmap.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
import json
import random
import time
from typing import TYPE_CHECKING
from typing import Any
import uuid

import routes
import routes.middleware

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

KNOWN_SERVERS = frozenset(str(uuid.UUID(int=n)) for n in range(1, 51))


class DemoError(RuntimeError):
    """Raised by the /os-crash endpoint to show exception accounting."""


def _work(seconds: float) -> None:
    """Stand in for database and RPC time, with some jitter."""
    time.sleep(seconds * random.uniform(0.5, 1.5))


def _json(start_response: StartResponse, status: str, payload: Any) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def list_servers(env: WSGIEnvironment, sr: StartResponse, **_: str) -> Any:
    _work(0.02)
    return _json(
        sr, "200 OK", {"servers": [{"id": s} for s in sorted(KNOWN_SERVERS)[:5]]}
    )


def show_server(env: WSGIEnvironment, sr: StartResponse, id: str, **_: str) -> Any:
    _work(0.006)
    if id not in KNOWN_SERVERS:
        return _json(sr, "404 Not Found", {"itemNotFound": {"code": 404}})
    return _json(sr, "200 OK", {"server": {"id": id, "status": "ACTIVE"}})


def create_server(env: WSGIEnvironment, sr: StartResponse, **_: str) -> Any:
    _work(0.04)
    length = int(env.get("CONTENT_LENGTH") or 0)
    try:
        request = json.loads(env["wsgi.input"].read(length) or b"null")
        name = request["server"]["name"]
    except (ValueError, KeyError, TypeError):
        return _json(sr, "400 Bad Request", {"badRequest": {"code": 400}})
    return _json(
        sr, "202 Accepted", {"server": {"id": str(uuid.uuid4()), "name": name}}
    )


def server_action(env: WSGIEnvironment, sr: StartResponse, id: str, **_: str) -> Any:
    _work(0.012)
    length = int(env.get("CONTENT_LENGTH") or 0)
    env["wsgi.input"].read(length)
    if id not in KNOWN_SERVERS:
        return _json(sr, "404 Not Found", {"itemNotFound": {"code": 404}})
    sr("202 Accepted", [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return []


def delete_server(env: WSGIEnvironment, sr: StartResponse, id: str, **_: str) -> Any:
    _work(0.015)
    sr("204 No Content", [])
    return []


def show_flavor(
    env: WSGIEnvironment, sr: StartResponse, flavor_id: str, **_: str
) -> Any:
    _work(0.003)
    return _json(sr, "200 OK", {"flavor": {"id": flavor_id, "vcpus": 2}})


def hypervisor_statistics(env: WSGIEnvironment, sr: StartResponse, **_: str) -> Any:
    # The slow endpoint: aggregates over every host.
    _work(0.08)
    return _json(sr, "200 OK", {"hypervisor_statistics": {"count": 12}})


def console_log(env: WSGIEnvironment, sr: StartResponse, id: str, **_: str) -> Any:
    sr("200 OK", [("Content-Type", "text/plain")])
    return _stream_lines(20)


def _stream_lines(count: int) -> Iterator[bytes]:
    for line in range(count):
        time.sleep(0.001)
        yield b"console line %d\n" % line


def crash(env: WSGIEnvironment, sr: StartResponse, **_: str) -> Any:
    raise DemoError("the demo's failing endpoint")


# (method, path below the project prefix, handler)
ROUTES = (
    ("GET", "/servers", list_servers),
    ("GET", "/servers/detail", list_servers),
    ("POST", "/servers", create_server),
    ("GET", "/servers/{id}", show_server),
    ("DELETE", "/servers/{id}", delete_server),
    ("POST", "/servers/{id}/action", server_action),
    ("GET", "/servers/{id}/os-console-log", console_log),
    ("GET", "/flavors/{flavor_id}", show_flavor),
    ("GET", "/os-hypervisors/statistics", hypervisor_statistics),
    ("GET", "/os-crash", crash),
)


def make_mapper() -> routes.Mapper:
    mapper = routes.Mapper()
    for method, path, handler in ROUTES:
        for prefix in ("/{project_id:[0-9a-f-]+}", ""):
            mapper.connect(
                prefix + path, handler=handler, conditions={"method": [method]}
            )
    return mapper


def _dispatch(
    environ: WSGIEnvironment, start_response: StartResponse
) -> Iterable[bytes]:
    match = environ["wsgiorg.routing_args"][1]
    if not match:
        return _json(start_response, "404 Not Found", {"itemNotFound": {"code": 404}})
    args = {
        k: v for k, v in match.items() if k not in ("handler", "action", "controller")
    }
    handler = match["handler"]
    result: Iterable[bytes] = handler(environ, start_response, **args)
    return result


def make_app() -> WSGIApplication:
    return routes.middleware.RoutesMiddleware(_dispatch, make_mapper())  # type: ignore[no-any-return]


def app_factory(global_conf: dict[str, str], **local_conf: str) -> WSGIApplication:
    """paste.app_factory entry for the sample API."""
    return make_app()


def versions_factory(global_conf: dict[str, str], **local_conf: str) -> WSGIApplication:
    """paste.app_factory for the version document at ``/``."""

    def versions(
        environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        return _json(start_response, "200 OK", {"versions": [{"id": "v2.1"}]})

    return versions
