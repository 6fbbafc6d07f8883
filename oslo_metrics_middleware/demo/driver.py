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

"""``oslo-metrics-middleware demo``: the whole path on one machine.

Starts a collector on a private socket and port, serves the sample API from
``api-paste.ini.sample`` on loopback, sends traffic, and prints what the
collector measured per endpoint.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import io
import itertools
import json
import random
import select
import signal
import socket
from socketserver import ThreadingMixIn
import threading
import time
import uuid
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import WSGIServer
from wsgiref.simple_server import make_server

from paste.deploy import loadapp

from oslo_metrics_middleware import assets
from oslo_metrics_middleware.collector.process import CollectorProcess
from oslo_metrics_middleware.report import exposition
from oslo_metrics_middleware.report import table
from oslo_metrics_middleware.report.progress import ProgressBar

PASTE_CONFIG = assets.path(assets.PASTE_SAMPLE)
PROJECT = "6f70656e737461636b20697320636f6f"
SERVERS = [str(uuid.UUID(int=n)) for n in range(1, 51)]

# (weight, method, path template, body): a mix like a busy compute API.
TRAFFIC = (
    (30, "GET", "/v2.1/servers/{server}", None),
    (15, "GET", "/v2.1/{project}/servers/detail", None),
    (10, "GET", "/v2.1/servers/{missing}", None),
    (10, "POST", "/v2.1/{project}/servers/{server}/action", {"os-start": None}),
    (8, "GET", "/v2.1/flavors/{flavor}", None),
    (8, "POST", "/v2.1/servers", {"server": {"name": "vm"}}),
    (5, "POST", "/v2.1/servers", {"bad": True}),
    (5, "DELETE", "/v2.1/servers/{server}", None),
    (4, "GET", "/v2.1/servers/{server}/os-console-log", None),
    (3, "GET", "/v2.1/os-hypervisors/statistics", None),
    (1, "GET", "/v2.1/os-crash", None),
    (1, "GET", "/v2.1/no/such/{missing}/path", None),
)


class _QuietHandler(WSGIRequestHandler):
    """Keeps the terminal for the progress bar and the table."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def get_stderr(self) -> io.StringIO:
        # wsgiref prints the traceback of the crash endpoint here.
        return io.StringIO()


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def _request_plan(count: int, seed: int = 7) -> list[tuple[str, str, bytes]]:
    rng = random.Random(seed)
    weights = [entry[0] for entry in TRAFFIC]
    plan = []
    for _, method, template, body in rng.choices(TRAFFIC, weights, k=count):
        path = template.format(
            project=PROJECT,
            server=rng.choice(SERVERS),
            missing=str(uuid.UUID(int=rng.getrandbits(128))),
            flavor=rng.choice(("1", "2", "m1.tiny", "42")),
        )
        payload = b"" if body is None else json.dumps(body).encode()
        plan.append((method, path, payload))
    return plan


def _drive(port: int, plan: list[tuple[str, str, bytes]], concurrency: int) -> None:
    local = threading.local()
    done = itertools.count(1)
    lock = threading.Lock()
    bar = ProgressBar(" ", unit="requests")

    def send(item: tuple[str, str, bytes]) -> None:
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        method, path, body = item
        headers = {"Content-Type": "application/json"} if body else {}
        try:
            local.conn.request(method, path, body=body or None, headers=headers)
            local.conn.getresponse().read()
        except (http.client.HTTPException, OSError):
            local.conn.close()
            del local.conn
        finished = next(done)
        if finished % 25 == 0 or finished == len(plan):
            with lock:
                bar(finished, len(plan))

    pool = concurrent.futures.ThreadPoolExecutor(concurrency)
    try:
        for _ in pool.map(send, plan):
            pass
    finally:
        # On Ctrl-C, drop the requests not yet sent instead of waiting.
        pool.shutdown(cancel_futures=True)
        bar.finish()


class _StopSignals:
    """Ctrl-C and SIGTERM end the demo, whichever thread they land on.

    Python runs signal handlers in the main thread only, and only once it
    executes bytecode again: a signal the kernel delivers to the server's
    thread does not interrupt a main thread blocked in ``sleep()``.  The
    main thread therefore waits in ``select()`` on the wakeup socket, which
    the interpreter writes to from whichever thread got the signal.  The
    handlers are installed even where the starting shell ignores SIGINT (a
    background job).  After the first signal further ones are ignored, so
    they cannot break off the clean-up.
    """

    def __init__(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGINT, self._interrupt)
        signal.signal(signal.SIGTERM, self._interrupt)

    def _interrupt(self, signum: int, frame: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    def wait(self) -> None:
        """Block until a signal raises KeyboardInterrupt here."""
        while True:
            select.select([self._reader], [], [])
            self._reader.recv(64)

    def close(self) -> None:
        signal.set_wakeup_fd(-1)
        self._reader.close()
        self._writer.close()


def run(requests: int, concurrency: int, serve: bool) -> int:
    signals = _StopSignals()
    try:
        _run(signals, requests, concurrency, serve)
    except KeyboardInterrupt:
        print("\nStopping.")
    finally:
        signals.close()
    return 0


def _run(signals: _StopSignals, requests: int, concurrency: int,
         serve: bool) -> None:
    print("Starting the collector (oslo.metrics daemon + API metrics)...")
    with CollectorProcess() as collector:
        app = loadapp(
            f"config:{PASTE_CONFIG.resolve()}",
            name="osapi_compute",
            global_conf={"metrics_socket_file": str(collector.socket_path)},
        )
        server = make_server(
            "127.0.0.1",
            0,
            app,
            server_class=_ThreadingServer,
            handler_class=_QuietHandler,
        )
        port = server.server_port
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            print(f"Sample compute API on http://127.0.0.1:{port}/v2.1")
            print(f"Sending {requests} requests with {concurrency} clients:")
            _drive(port, _request_plan(requests), concurrency)
            time.sleep(1.0)  # a few flush intervals
            endpoints = exposition.parse_endpoints(collector.scrape())
            print()
            print(table.render(list(endpoints.values())))
            if serve:
                print(f"\nMetrics: {collector.metrics_url}")
                print(f"API:     http://127.0.0.1:{port}/v2.1/servers")
                print("Report:  oslo-metrics-middleware report --scrape "
                      f"{collector.metrics_url} --interval 5s --duration 5m "
                      "--format html --output api-report.html")
                print("Serving; press Ctrl-C to stop.", flush=True)
                signals.wait()
        except KeyboardInterrupt:
            print("\nStopping.")
        finally:
            server.shutdown()
            server.server_close()
