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

"""The HTTP server of /metrics: bound before anything else is touched.

It is bounded whatever clients do: at most ``max_connections`` are open
at once, each served in its own thread.  A client has ``timeout`` seconds
from connecting to send its request, and the same for each piece of the
answer to be taken.  When all connections are taken, the oldest one still
waiting for its request is closed to make room (so a crowd of silent
clients cannot keep a scrape out), or else the oldest open for longer
than ``timeout`` (a client taking its answer that slowly); failing both,
the newcomer is closed at once.  Every accepted connection is either served
or closed without delay, so the listening socket never stays readable
and the receive loop never spins on it.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import socket
import socketserver
import ssl
import threading
import time
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import WSGIServer

from oslo_metrics_middleware.collector.options import StartupError

LOG = logging.getLogger(__name__)

# Descriptors the collector holds besides its HTTP connections (socket,
# listener, signal pipe, selector, logs, standard streams), with room.
OTHER_DESCRIPTORS = 64


class _Handler(WSGIRequestHandler):
    silent = True

    def setup(self) -> None:
        server: MetricsServer = self.server  # type: ignore[assignment]
        super().setup()
        self.connection.settimeout(server.client_timeout)
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        # The request line and headers are in: from here on, the connection
        # is being served and no longer one that may be closed for room.
        server: MetricsServer = self.server  # type: ignore[assignment]
        server.request_read(self.request)
        return parsed

    def log_message(self, format: str, *args: Any) -> None:
        if not self.silent:
            LOG.info("%s %s", self.address_string(), format % args)


class _SilentHandler(_Handler):
    pass


class _LoggingHandler(_Handler):
    silent = False


class MetricsServer(socketserver.ThreadingMixIn, WSGIServer):
    """wsgiref, one thread per connection, a bounded number of them."""

    daemon_threads = True
    # Clients the kernel queues while the receive loop is busy elsewhere.
    request_queue_size = 128
    max_connections = 64
    client_timeout = 10.0
    tls: ssl.SSLContext | None = None

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve our own name (getfqdn),
        # which can hang on a host without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)
        self.setup_environ()
        self._lock = threading.Lock()
        # Every open connection with the time it was accepted; those still
        # waiting for their request with the time they must have sent it
        # by (both oldest first).
        self._open: dict[Any, float] = {}
        self._waiting: dict[Any, float] = {}

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve ``request`` in a thread, or close it if there is no room."""
        self.expire()
        with self._lock:
            if len(self._open) >= self.max_connections:
                self._make_room()
            room = len(self._open) < self.max_connections
        if not room:
            LOG.debug("No room for a connection from %s", client_address)
            self.shutdown_request(request)
            return
        with self._lock:
            if self.tls is not None:
                request = self.tls.wrap_socket(
                    request, server_side=True, do_handshake_on_connect=False
                )
            now = time.monotonic()
            self._open[request] = now
            self._waiting[request] = now + self.client_timeout
        super().process_request(request, client_address)

    def _make_room(self) -> None:
        """Close the oldest connection still waiting for its request, or
        else the oldest open for longer than the timeout (a client that
        takes its answer this slowly), if any (lock held)."""
        if self._waiting:
            self._close(next(iter(self._waiting)))
            return
        oldest, opened = next(iter(self._open.items()))
        if time.monotonic() - opened > self.client_timeout:
            self._close(oldest)

    def request_read(self, request: Any) -> None:
        with self._lock:
            self._waiting.pop(request, None)

    def expire(self) -> float | None:
        """Close connections past their time to send a request; the
        seconds until the next one's time is up (None if none waits)."""
        now = time.monotonic()
        with self._lock:
            for request, deadline in list(self._waiting.items()):
                if deadline > now:
                    return deadline - now
                self._close(request)
        return None

    def _close(self, request: Any) -> None:
        """Make the thread of ``request`` stop reading (lock held)."""
        self._waiting.pop(request, None)
        self._open.pop(request, None)
        # The plain socket's shutdown: the thread owns the TLS state and
        # closes the connection itself once its read returns.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(request, socket.SHUT_RDWR)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._open.pop(request, None)
            self._waiting.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        LOG.debug("Scrape from %s failed", client_address, exc_info=True)


def display(host: str, port: int) -> str:
    """``host:port`` as an operator writes it, IPv6 in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host or '0.0.0.0'}:{port}"


def _reserve_descriptors(needed: int) -> None:
    """Raise the soft descriptor limit to ``needed`` if it is lower; a
    hard limit below it is a StartupError (the connection limit would
    not hold otherwise: accept() would fail and the loop spin)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise StartupError(
            f"http_max_connections needs {needed} file descriptors, the "
            f"limit is {hard} (raise LimitNOFILE or lower http_max_connections)"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def listen(
    host: str,
    port: int,
    silent: bool,
    max_connections: int = MetricsServer.max_connections,
    timeout: float = MetricsServer.client_timeout,
    tls: ssl.SSLContext | None = None,
) -> MetricsServer:
    """A bound, listening /metrics server; StartupError names host:port.

    It has no application yet: the metrics it serves are known once the
    metric modules are loaded (see exposition.MetricsApp).
    """
    _reserve_descriptors(max_connections + OTHER_DESCRIPTORS)
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
        "BoundMetricsServer",
        (MetricsServer,),
        {
            "address_family": family,
            "max_connections": max_connections,
            "client_timeout": timeout,
            "tls": tls,
        },
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
