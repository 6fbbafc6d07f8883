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

"""A threaded wsgiref server: ``PORT [--validate]``.

It serves the sample API of api-paste.ini.sample, or with ``--validate`` a
small routes-based API (list, generator and write() bodies, a request body
read in pieces, an exception, HEAD) with the metrics filter between two
``wsgiref.validate.validator`` layers, validator(filter(validator(api))),
so both the application side and the server side of the filter are checked
against PEP 3333.  Every warning is an error.  Exceptions the server logs
go to stderr with a ``SERVER-ERROR`` line the tests look for.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from socketserver import ThreadingMixIn
import sys
from typing import TYPE_CHECKING
from typing import Any
import warnings
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import WSGIServer
from wsgiref.validate import validator

from paste.urlmap import URLMap
import routes
import routes.middleware

from oslo_metrics_middleware.middleware import MetricsMiddleware
from tests.functional.apps import paste_app

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # Concurrent test clients must not be refused.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        print("SERVER-ERROR", client_address, file=sys.stderr, flush=True)
        super().handle_error(request, client_address)


class CrashError(RuntimeError):
    """Raised by the /os-crash route."""


CONSOLE_LINES = 20


def _reply(
    start_response: StartResponse, status: str, body: bytes
) -> list[bytes]:
    start_response(
        status,
        [("Content-Type", "application/json"),
         ("Content-Length", str(len(body)))],
    )
    return [body]


def _show(environ: WSGIEnvironment, start_response: StartResponse) -> Any:
    return _reply(start_response, "200 OK", b'{"server": {}}')


def _create(environ: WSGIEnvironment, start_response: StartResponse) -> Any:
    # Read in pieces, through read(n) and readline(n) as apps do.
    stream = environ["wsgi.input"]
    remaining = int(environ.get("CONTENT_LENGTH") or 0)
    body = stream.readline(min(remaining, 4))
    remaining -= len(body)
    while remaining > 0:
        chunk = stream.read(min(remaining, 7))
        if not chunk:
            break
        body += chunk
        remaining -= len(chunk)
    return _reply(start_response, "202 Accepted", body)


def _console(environ: WSGIEnvironment, start_response: StartResponse) -> Any:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return (b"console line %d\n" % n for n in range(CONSOLE_LINES))


def _legacy(environ: WSGIEnvironment, start_response: StartResponse) -> Any:
    write = start_response(
        "200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")]
    )
    write(b"legacy")
    return []


def _crash(environ: WSGIEnvironment, start_response: StartResponse) -> Any:
    raise CrashError("the failing endpoint")


ROUTES = (
    ("GET", "/servers/{id}", _show),
    ("POST", "/servers", _create),
    ("GET", "/servers/{id}/os-console-log", _console),
    ("GET", "/legacy", _legacy),
    ("GET", "/os-crash", _crash),
)


def routed_api() -> WSGIApplication:
    """A small routes-based API covering the shapes of a WSGI response."""
    mapper = routes.Mapper()
    for method, path, handler in ROUTES:
        mapper.connect(path, handler=handler, conditions={"method": [method]})

    def dispatch(
        environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        match = environ["wsgiorg.routing_args"][1]
        if not match:
            return _reply(start_response, "404 Not Found", b"{}")
        result: Iterable[bytes] = match["handler"](environ, start_response)
        return result

    app: WSGIApplication = routes.middleware.RoutesMiddleware(dispatch, mapper)
    return app


def head_as_get(app: WSGIApplication) -> WSGIApplication:
    """Answer HEAD like GET without a body, as webob-based APIs do.

    The environ is changed in place so the router's match stays visible
    to the metrics filter, and REQUEST_METHOD is restored before the body
    is returned.
    """

    def head(
        environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "HEAD":
            return app(environ, start_response)
        environ["REQUEST_METHOD"] = "GET"
        try:
            body = app(environ, start_response)
            try:
                for _ in body:
                    pass
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()
        finally:
            environ["REQUEST_METHOD"] = "HEAD"
        return []

    return head


def validated_api() -> WSGIApplication:
    """validator(filter(validator(api))) mounted at /v2.1."""
    inner = validator(head_as_get(routed_api()))
    metered = MetricsMiddleware(
        inner, {"service_name": "compute", **paste_app.filter_options()}
    )
    mapping = URLMap()
    mapping["/v2.1"] = validator(metered)
    return mapping


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--validate", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("error")
    app = validated_api() if args.validate else paste_app.application
    server = ThreadingWSGIServer(("127.0.0.1", args.port), QuietHandler)
    server.set_app(app)
    print("LISTENING", flush=True)
    server.serve_forever(poll_interval=0.1)


if __name__ == "__main__":
    main()
