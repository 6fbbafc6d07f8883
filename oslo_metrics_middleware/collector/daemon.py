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

"""The collector: one receive loop for the socket, /metrics and signals.

Start-up checks everything an operator can get wrong before the socket is
touched, and reports it in one line with a non-zero exit.  Once running, a
single select() loop reads datagrams, accepts scrapes (each served in its
own thread) and wakes on SIGTERM/SIGINT through a pipe, so stopping never
waits for a timeout.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import socket
import sys
from types import FrameType

from oslo_config import cfg
from oslo_log import log
import prometheus_client

from oslo_metrics_middleware.collector import exposition
from oslo_metrics_middleware.collector import http_server
from oslo_metrics_middleware.collector import ingest
from oslo_metrics_middleware.collector import options
from oslo_metrics_middleware.collector import series
from oslo_metrics_middleware.collector import socket_file
from oslo_metrics_middleware.collector import systemd
from oslo_metrics_middleware.collector import web_config

LOG = logging.getLogger(__name__)
PROG = "oslo-metrics-middleware collector"

# Large enough for any datagram the kernel passes by default; a longer one
# is reported cut by MSG_TRUNC and refused.
READ_SIZE = 256 * 1024
# Datagrams read in a row before a waiting scrape or signal gets its turn.
BURST = 64
# Seconds (Python's default is 5 ms).
SWITCH_INTERVAL = 0.001


class _Stop:
    """SIGTERM and SIGINT, turned into a readable pipe and a flag."""

    def __init__(self) -> None:
        self.requested = False
        self.reader, writer = os.pipe()
        os.set_blocking(self.reader, False)
        os.set_blocking(writer, False)
        self._writer = writer
        signal.set_wakeup_fd(writer, warn_on_full_buffer=False)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    def close(self) -> None:
        signal.set_wakeup_fd(-1)
        os.close(self.reader)
        os.close(self._writer)


def run(argv: list[str]) -> int:
    """Run the collector with ``argv`` (``--config-file``); the exit status."""
    stop = _Stop()
    try:
        return _run(argv, stop)
    finally:
        stop.close()


def _run(argv: list[str], stop: _Stop) -> int:
    try:
        conf, settings = options.load(argv)
        _setup_logging(conf)
        web = web_config.load(settings.web_config_file)
        server = http_server.listen(
            settings.host,
            settings.port,
            settings.silent,
            settings.http_max_connections,
            settings.http_timeout,
            web.tls(),
        )
        try:
            claimed = socket_file.claim(settings.socket_path, settings.socket_perm)
        except options.StartupError:
            server.server_close()
            raise
    except options.StartupError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    receiver = ingest.configure(settings.limits)
    series.register(receiver.modules.values())
    # A _created sample per series is a series more in Prometheus (text
    # format 0.0.4), for a start time nobody queries.
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    server.set_app(
        web.protect(
            exposition.MetricsApp(
                prometheus_client.REGISTRY,
                series.histograms(receiver.modules.values()),
            )
        )
    )
    try:
        LOG.info(
            "Collector ready: socket %s, metrics on http://%s/metrics",
            settings.socket_path,
            http_server.display(settings.host, server.server_port),
        )
        systemd.notify("READY=1")
        _serve(claimed.socket, server, receiver, stop)
        systemd.notify("STOPPING=1")
    finally:
        server.server_close()
        claimed.release()
    LOG.info("Collector stopped")
    return 0


def _setup_logging(conf: cfg.ConfigOpts) -> None:
    try:
        log.setup(conf, "oslo-metrics-middleware")
    except (OSError, ValueError) as exc:
        raise options.StartupError(f"cannot set up logging: {exc}") from None


def _serve(
    sock: socket.socket,
    server: http_server.MetricsServer,
    receiver: ingest.Ingest,
    stop: _Stop,
) -> None:
    sock.setblocking(False)
    # A scrape thread writing a large page hands the interpreter back after
    # this long at most when the loop wakes for a datagram: well within
    # what the socket's queue holds (a few datagrams at a time).
    sys.setswitchinterval(SWITCH_INTERVAL)
    buffer = bytearray(READ_SIZE)
    view = memoryview(buffer)
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ, "datagram")
        selector.register(server.socket, selectors.EVENT_READ, "scrape")
        selector.register(stop.reader, selectors.EVENT_READ, "signal")
        while not stop.requested:
            # Woken when a client's time to send its request is up.
            for key, _ in selector.select(server.expire()):
                if key.data == "datagram":
                    _read_burst(sock, buffer, view, receiver)
                elif key.data == "scrape":
                    server.handle_request()
                else:
                    _drain(stop.reader)


def _read_burst(
    sock: socket.socket,
    buffer: bytearray,
    view: memoryview,
    receiver: ingest.Ingest,
) -> None:
    for _ in range(BURST):
        try:
            size = sock.recv_into(buffer, READ_SIZE, socket.MSG_TRUNC)
        except (BlockingIOError, InterruptedError):
            return
        if size > READ_SIZE:
            receiver.oversized()
            continue
        receiver.datagram(bytes(view[:size]))


def _drain(reader: int) -> None:
    try:
        while os.read(reader, 512):
            pass
    except BlockingIOError:
        pass
