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

"""The HTTP server of /metrics: bound before anything else is touched."""

from __future__ import annotations

import logging
import socket
import socketserver
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import WSGIServer

from oslo_metrics_middleware.collector.options import StartupError

LOG = logging.getLogger(__name__)


class _Handler(WSGIRequestHandler):
    # A client that connects and says nothing gives its thread back.
    timeout = 30
    silent = True

    def log_message(self, format: str, *args: Any) -> None:
        if not self.silent:
            LOG.info("%s %s", self.address_string(), format % args)


class _SilentHandler(_Handler):
    pass


class _LoggingHandler(_Handler):
    silent = False


class MetricsServer(socketserver.ThreadingMixIn, WSGIServer):
    """wsgiref, one thread per scrape, so a slow client blocks nobody."""

    daemon_threads = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve our own name (getfqdn),
        # which can hang on a host without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)
        self.setup_environ()

    def handle_error(self, request: Any, client_address: Any) -> None:
        LOG.debug("Scrape from %s failed", client_address, exc_info=True)


def display(host: str, port: int) -> str:
    """``host:port`` as an operator writes it, IPv6 in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host or '0.0.0.0'}:{port}"


def listen(host: str, port: int, silent: bool) -> MetricsServer:
    """A bound, listening /metrics server; StartupError names host:port.

    It has no application yet: the metrics it serves are known once the
    metric modules are loaded (see exposition.MetricsApp).
    """
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host or None, port, socket.AF_UNSPEC if host else socket.AF_INET,
            socket.SOCK_STREAM, 0, socket.AI_PASSIVE,
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise StartupError(
            f"cannot use prometheus_host {host!r}: {exc}"
        ) from None
    server_class = type(
        "BoundMetricsServer", (MetricsServer,), {"address_family": family}
    )
    handler = _SilentHandler if silent else _LoggingHandler
    try:
        server: MetricsServer = server_class(address[:2], handler)
    except OSError as exc:
        raise StartupError(
            f"cannot listen on {display(host, port)}: {exc.strerror}"
        ) from None
    # handle_request() is only called once select() said a client waits.
    server.timeout = 0
    return server
