"""Per-request cost of the metrics filter, against the alternatives, in one run.

Every variant wraps the same trivial application and is called in-process
with a fresh WSGI environ per request.  Variants run interleaved in several
rounds and the best round of each is kept (noise only ever adds time),
so a noisy neighbour affects all of them alike.  The filter's variants deliver to a real
collector process, so their figures include encoding and sending.

    .venv/bin/python bench/bench_filter.py [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Iterable
import json
from pathlib import Path
import queue
import socket
import tempfile
import threading
import time
from typing import Any

from oslo_middleware.stats import StatsMiddleware
import prometheus_client
import routes

from oslo_metrics_middleware import MetricsMiddleware
from oslo_metrics_middleware.collector.process import CollectorProcess
from oslo_metrics_middleware.routing import flask as flask_routing

App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
BODY = [b'{"server": {"id": "1"}}']
SERVER_ID = "0a6e5bb3-3f4c-4b7e-9c0d-6c2a4d1f8e21"


def trivial_app(
    environ: dict[str, Any], start_response: Callable[..., Any]
) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "application/json")])
    return BODY


def routed_app() -> App:
    """The trivial app leaving a Routes match in the environ, as nova's
    router does; the matching itself is the router's cost, not the filter's."""
    mapper = routes.Mapper()
    mapper.connect("/{project_id:[0-9a-f-]+}/servers/{id}")
    route = mapper.matchlist[0]

    def app(
        environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        environ["routes.route"] = route
        environ["wsgiorg.routing_args"] = ((), {"id": SERVER_ID})
        return trivial_app(environ, start_response)

    return app


def placement_app() -> App:
    """Leaves what Placement's handler leaves: no template, only its context
    marker, so the filter matches Placement's route table itself."""

    def app(
        environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        environ["placement.context"] = None
        environ["wsgiorg.routing_args"] = ((), {"uuid": SERVER_ID})
        return trivial_app(environ, start_response)

    return app


def flask_app() -> App:
    """Leaves the rule as the filter's request_started receiver does (the
    receiver's own cost is Flask's, measured apart in the docs)."""

    def app(
        environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        environ["werkzeug.request"] = None
        environ[flask_routing.RULE_KEY] = "/servers/<string:server_id>"
        return trivial_app(environ, start_response)

    return app


def pecan_app() -> App:
    """Leaves what pecan and neutron's hooks leave in the environ."""

    def app(
        environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        environ["pecan.locals"] = {}
        environ["webob.adhoc_attrs"] = {
            "context": {"collection": "servers", "resource_id": SERVER_ID},
            "pecan": {"routing_path": environ["PATH_INFO"]},
        }
        return trivial_app(environ, start_response)

    return app


def request_id_app(app: App) -> App:
    """Leaves a request id as oslo.middleware's request_id filter does: in
    the environ and in the X-OpenStack-Request-ID response header."""
    request_id = f"req-{SERVER_ID}"

    def with_id(
        environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        environ["openstack.request_id"] = request_id

        def add_header(status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Any:
            return start_response(
                status, [*headers, ("X-OpenStack-Request-ID", request_id)],
                exc_info)

        return app(environ, add_header)

    return with_id


def route_table_file() -> str:
    _handle, path = tempfile.mkstemp(suffix=".routes")
    Path(path).write_text("/v2.1/servers\n/v2.1/servers/detail\n/v2.1/servers/{id}\n")
    return path


def three_way(app: App, path: str, filtered: App) -> dict[str, tuple[App, Any]]:
    return {
        "bare": (app, environ_for(path)),
        "prometheus_client": (PrometheusInProcess(app), environ_for(path)),
        "this filter": (filtered, environ_for(path)),
    }


class PrometheusInProcess:
    """Variant (b): observe + inc on in-process prometheus_client metrics."""

    registry = prometheus_client.CollectorRegistry()
    duration = prometheus_client.Histogram(
        "bench_duration_seconds", "", ("method", "status"), registry=registry
    )
    requests = prometheus_client.Counter(
        "bench_requests", "", ("method", "status"), registry=registry
    )

    def __init__(self, app: App) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        started = time.monotonic()
        result = self.app(environ, start_response)
        method = environ["REQUEST_METHOD"]
        self.duration.labels(method, "200").observe(time.monotonic() - started)
        self.requests.labels(method, "200").inc()
        return result


class MessagingStyleSender:
    """Variant (d): oslo.messaging's metrics sender, rebuilt for comparison.

    A bounded queue.Queue filled with put_nowait, emptied by a thread that
    opens a new unix socket for every sample and sends one JSON datagram.
    """

    def __init__(self, app: App, socket_path: str) -> None:
        self.app = app
        self.socket_path = socket_path
        self.queue: queue.Queue[bytes] = queue.Queue(maxsize=1000)
        self.dropped = 0
        threading.Thread(target=self._send_forever, daemon=True).start()

    def _send_forever(self) -> None:
        while True:
            datagram = self.queue.get()
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                try:
                    sock.connect(self.socket_path)
                    sock.send(datagram)
                except OSError:
                    time.sleep(1)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        started = time.time()
        result = self.app(environ, start_response)
        sample = {
            "module": "bench",
            "name": "duration",
            "action": {"action": "observe", "value": time.time() - started},
            "labels": {"method": environ["REQUEST_METHOD"], "status": "200"},
        }
        try:
            self.queue.put_nowait(json.dumps(sample).encode())
        except queue.Full:
            self.dropped += 1
        return result


def environ_for(path: str) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        return {
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": "/v2.1",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8774",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http",
        }

    return make


def _start_response(
    status: str, headers: list[tuple[str, str]], exc_info: Any = None
) -> Callable[[bytes], None]:
    return lambda data: None


def per_request(
    app: App, make_environ: Callable[[], dict[str, Any]], count: int
) -> float:
    """Seconds per request over ``count`` requests."""
    environs = [make_environ() for _ in range(count)]
    started = time.perf_counter()
    for environ in environs:
        result = app(environ, _start_response)
        for _chunk in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return (time.perf_counter() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    with CollectorProcess() as collector:
        conf = {
            "service_name": "compute",
            "metrics_socket_file": str(collector.socket_path),
        }
        routed = routed_app()
        cases: dict[str, dict[str, tuple[App, Callable[[], dict[str, Any]]]]] = {
            "routes": {
                "bare": (routed, environ_for(f"/servers/{SERVER_ID}")),
                "prometheus_client": (
                    PrometheusInProcess(routed),
                    environ_for(f"/servers/{SERVER_ID}"),
                ),
                "oslo stats": (
                    StatsMiddleware(
                        routed,
                        {
                            "name": "nova",
                            "stats_host": "127.0.0.1",
                            "remove_uuid": True,
                        },
                    ),
                    environ_for(f"/servers/{SERVER_ID}"),
                ),
                "oslo.messaging-style": (
                    MessagingStyleSender(routed, str(collector.socket_path)),
                    environ_for(f"/servers/{SERVER_ID}"),
                ),
                "this filter": (
                    MetricsMiddleware(routed, dict(conf)),
                    environ_for(f"/servers/{SERVER_ID}"),
                ),
            },
            "fallback, same path": {
                "bare": (trivial_app, environ_for(f"/servers/{SERVER_ID}")),
                "prometheus_client": (
                    PrometheusInProcess(trivial_app),
                    environ_for(f"/servers/{SERVER_ID}"),
                ),
                "this filter": (
                    MetricsMiddleware(trivial_app, dict(conf)),
                    environ_for(f"/servers/{SERVER_ID}"),
                ),
            },
        }
        server_path = f"/servers/{SERVER_ID}"
        for case, app, extra in (
            ("placement table re-match, cached", placement_app(), {}),
            ("flask rule", flask_app(), {}),
            ("pecan context", pecan_app(), {}),
            (
                "operator route table, cached",
                trivial_app,
                {"route_table_file": route_table_file()},
            ),
            (
                "routes + action & microversion labels",
                routed,
                {"action_label": "true", "microversion_label": "true"},
            ),
        ):
            cases[case] = three_way(
                app, server_path, MetricsMiddleware(app, {**conf, **extra})
            )
        identified = request_id_app(routed)
        cases["routes + request id exemplar"] = {
            **three_way(identified, server_path,
                        MetricsMiddleware(identified, dict(conf))),
            "this filter, ids off": (
                MetricsMiddleware(
                    identified, {**conf, "request_id_exemplars": "false"}),
                environ_for(server_path),
            ),
        }
        results: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for case, variants in cases.items():
                for name, (app, make_environ) in variants.items():
                    cost = per_request(app, make_environ, args.requests)
                    results.setdefault((case, name), []).append(cost)
        time.sleep(1.0)
        text = collector.scrape()
        messaging = cases["routes"]["oslo.messaging-style"][0]
        assert isinstance(messaging, MessagingStyleSender)

    delivered = _total(text, "openstack_api_request_duration_seconds_count")
    dropped = _total(text, "openstack_api_metrics_dropped_samples_total")
    print(
        f"{args.rounds} rounds x {args.requests} requests per variant, "
        "best round per request"
    )
    for case, variants in cases.items():
        print(f"\n[{case}]")
        bare = min(results[(case, "bare")])
        prom_added = min(results[(case, "prometheus_client")]) - bare
        for name in variants:
            median = min(results[(case, name)])
            added = median - bare
            ratio = (
                f"{added / prom_added:5.2f}x prometheus_client"
                if name != "bare"
                else ""
            )
            print(
                f"  {name:20s} {median * 1e6:7.2f} us"
                f"   added {added * 1e6:6.2f} us  {ratio}"
            )
    sent = args.rounds * args.requests * sum(
        name.startswith("this filter") for v in cases.values() for name in v)
    print(
        f"\nthis filter's samples: {sent} sent, {delivered:.0f} delivered, "
        f"{dropped:.0f} dropped and counted (the loop outruns the daemon)"
    )

    print(
        f"oslo.messaging-style sender: {messaging.dropped} of "
        f"{args.rounds * args.requests} "
        "samples dropped at its full queue (its cost above is mostly the "
        "cost of dropping)"
    )


def _total(text: str, prefix: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix)
    )


if __name__ == "__main__":
    main()
