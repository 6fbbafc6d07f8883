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

"""The collector under load: ingest rate, and memory and scrape time at the cap.

``ingest`` sends batch datagrams (as many rows as a filter puts in one,
20 routes) to a real collector as fast as its socket takes them and polls
/metrics until every row is counted.

``cap`` sends the routes of thousands of senders (each its own set of
distinct routes, as processes with their own ``max_routes`` would) for a few
services, then reports the collector's RSS, its series count, the size of
/metrics and how long a scrape takes (asked for as Prometheus asks:
OpenMetrics, gzip). Run it with the default cap and with a larger one to
see what the cap bounds.

``scrape`` fills the collector's request histograms in this process with
as many route values, each with an exemplar, and times the collector's
/metrics app against prometheus_client's on the same histograms, in
interleaved rounds, for both formats.

    .venv/bin/python bench/bench_collector.py ingest [--datagrams N]
    .venv/bin/python bench/bench_collector.py cap [--senders N]
        [--routes-per-sender N] [--services N] [--max-routes N]
    .venv/bin/python bench/bench_collector.py scrape [--routes N] [--rounds N]
    .venv/bin/python bench/bench_collector.py datagram [--rounds N] [--repeat N]
    .venv/bin/python bench/bench_collector.py worst [--services N] [--rounds N]
        [--max-request-series N] [--max-request-label-bytes N]

``datagram`` times the collector's ingest of one datagram in this process,
for an ordinary batch and for hostile ones (60,000 empty rows; a batch of
new labels, each folded), in interleaved rounds.

``worst`` fills a real collector at its default caps with the worst labels
it keeps: each request metric at ``max_request_series`` label sets and
about ``max_request_label_bytes`` bytes of label values (65 bytes a label
set, each value a 4-byte character, digits, then quotes and backslashes,
which the page escapes to two bytes each), every bucket with an exemplar
of the longest request id kept (64 bytes).  It then scrapes as a text
client and as Prometheus does (OpenMetrics, gzip) in interleaved rounds,
while a sender paces small datagrams (one every 10 ms, without blocking)
into the socket: the page size, scrape times (median, min-max), the
collector's RSS (idle, filled, peak) and how many sends found the socket's
queue full.  ``--max-request-series`` and ``--max-request-label-bytes``
run it at other caps.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import gzip
import json
import os
from pathlib import Path
import random
import socket
import statistics
import threading
import time
from typing import Any
import urllib.request

import prometheus_client

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware import transport
from oslo_metrics_middleware.collector import checks
from oslo_metrics_middleware.collector import exposition
from oslo_metrics_middleware.collector import openstack_api
from oslo_metrics_middleware.collector.ingest import Limits
from oslo_metrics_middleware.collector.process import PROMETHEUS_ACCEPT
from oslo_metrics_middleware.collector.process import CollectorProcess

COUNT = "openstack_api_request_duration_seconds_count"
SERIES = "oslo_metrics_collector_series"
OVERFLOW = "oslo_metrics_collector_overflow_total"
SERVICES = ("compute", "image", "volume", "network", "identity", "placement")


def _counted(text: str) -> float:
    return _sum_of(text, COUNT)


def _send(collector: CollectorProcess, datagrams: list[bytes]) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        for datagram in datagrams:
            sender.sendto(datagram, str(collector.socket_path))


def _datagrams_of(rows: list[protocol.Sample]) -> list[bytes]:
    """``rows`` as a filter would send them: at most MAX_ROWS a datagram."""
    return [
        datagram
        for start in range(0, len(rows), protocol.MAX_ROWS)
        for datagram, _ in protocol.split_for_datagrams(
            rows[start : start + protocol.MAX_ROWS]
        )
    ]


def ingest(args: argparse.Namespace) -> None:
    rows = [
        protocol.sample(
            "compute", "GET", f"/v2.1/servers/{{id}}/r{n % 20}", 200, 0.01, 0, 100
        )
        for n in range(transport.ROWS_PER_DATAGRAM)
    ]
    [(datagram, per_datagram)] = protocol.split_for_datagrams(rows)
    total = args.datagrams * per_datagram
    with CollectorProcess() as collector:
        started = time.perf_counter()
        _send(collector, [datagram] * args.datagrams)
        while _counted(collector.scrape()) < total:
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
    print(f"{total} rows in {elapsed:.2f} s: {total / elapsed:,.0f} rows/s")


def _datagrams(collector: CollectorProcess) -> float:
    """Datagrams read so far, from a scrape of that one family."""
    url = f"{collector.metrics_url}?name[]=oslo_metrics_collector_datagrams_total"
    with urllib.request.urlopen(url, timeout=60) as page:
        return _sum_of(page.read().decode(), "oslo_metrics_collector_datagrams_total")


def _sum_of(text: str, prefix: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix)
    )


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _timed_scrape(collector: CollectorProcess) -> tuple[float, int]:
    """Seconds to scrape as Prometheus does, and the size of the text."""
    started = time.perf_counter()
    body, _ = collector.scrape_as_prometheus(timeout=600)
    return time.perf_counter() - started, len(body)


def cap(args: argparse.Namespace) -> None:
    services = SERVICES[: args.services]
    rows = [
        protocol.sample(
            services[sender % len(services)],
            "GET",
            f"/s{sender}/r{n}",
            200,
            0.01,
            0,
            100,
        )
        for sender in range(args.senders)
        for n in range(args.routes_per_sender)
    ]
    datagrams = _datagrams_of(rows)
    # The caps the figures in performance.rst were taken at: only max_routes
    # folds here.
    options = {
        "max_routes": args.max_routes,
        "max_request_series": 20_000,
        "max_request_label_bytes": 4 << 20,
    }
    with CollectorProcess(options=options) as collector:
        assert collector.process is not None
        before = _rss_mib(collector.process.pid)
        started = time.perf_counter()
        _send(collector, datagrams)
        while _datagrams(collector) < len(datagrams):
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        times = []
        for _ in range(5):
            seconds, size = _timed_scrape(collector)
            times.append(seconds)
        url = f"{collector.metrics_url}?name[]={SERIES}"
        with urllib.request.urlopen(url, timeout=60) as page:
            series = _sum_of(
                page.read().decode(),
                f'{SERIES}{{metric="openstack_api_request_duration',
            )
        after = _rss_mib(collector.process.pid)
    print(
        f"{args.senders} senders x {args.routes_per_sender} routes = "
        f"{len(rows):,} distinct routes over {len(services)} services, "
        f"max_routes={args.max_routes}\n"
        f"  ingested in {elapsed:.1f} s; duration label sets held: {series:,.0f}\n"
        f"  RSS {before:.0f} MiB idle -> {after:.0f} MiB; /metrics "
        f"{size / 1e6:.1f} MB, scrape median {statistics.median(times):.2f} s "
        f"(max {max(times):.2f} s)"
    )


def _fill_histograms(routes: int) -> list[prometheus_client.Histogram]:
    """The collector's request histograms with ``routes`` route values,
    each observed with a request id as the collector records it."""
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    durations = openstack_api.openstack_api_request_duration_seconds
    request_sizes = openstack_api.openstack_api_request_size_bytes
    response_sizes = openstack_api.openstack_api_response_size_bytes
    for n in range(routes):
        labels = ("compute", "GET", f"/v2.1/servers/{{id}}/r{n}")
        exemplar = {"request_id": f"req-{n:08d}-aaaa-bbbb-cccc-dddddddddddd"}
        durations.labels(*labels, "200").observe(0.012, exemplar)
        request_sizes.labels(*labels).observe(0)
        response_sizes.labels(*labels).observe(2048, exemplar)
    return [durations, request_sizes, response_sizes]


def _get(app: Any, accept: str) -> bytes:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/metrics",
        "QUERY_STRING": "",
        "HTTP_ACCEPT": accept,
        "HTTP_ACCEPT_ENCODING": "gzip",
    }
    return b"".join(app(environ, lambda status, headers: None))


def scrape(args: argparse.Namespace) -> None:
    histograms = _fill_histograms(args.routes)
    registries = [prometheus_client.CollectorRegistry() for _ in range(3)]
    for registry in registries:
        for histogram in histograms:
            registry.register(histogram)
    apps: dict[str, Callable[..., Any]] = {
        "prometheus_client": prometheus_client.make_wsgi_app(registries[0]),
        "collector": exposition.MetricsApp(registries[1], histograms),
        # The same gzip level as prometheus_client: the writing alone.
        "collector, gzip 9": exposition.MetricsApp(registries[2], histograms, 9),
    }
    print(f"{args.routes:,} route values, 3 histograms, {args.rounds} rounds")
    for format_name, accept in (("OpenMetrics", PROMETHEUS_ACCEPT), ("text", "")):
        times: dict[str, list[float]] = {name: [] for name in apps}
        texts: dict[str, bytes] = {}
        for _ in range(args.rounds):
            for name, app in apps.items():
                started = time.perf_counter()
                body = _get(app, accept)
                times[name].append(time.perf_counter() - started)
                texts[name] = gzip.decompress(body)
        # The same lines, in another order: the same work on every side.
        lines = {name: sorted(text.splitlines()) for name, text in texts.items()}
        assert all(each == lines["prometheus_client"] for each in lines.values())
        stock = statistics.median(times["prometheus_client"])
        for name, seconds in times.items():
            print(
                f"  {format_name:11} {name:18} median "
                f"{statistics.median(seconds):.3f} s "
                f"[{min(seconds):.3f}-{max(seconds):.3f}] "
                f"= {statistics.median(seconds) / stock:.2f}x, "
                f"{len(texts[name]) / 1e6:.1f} MB of text"
            )


def _hostile_datagrams() -> dict[str, bytes]:
    """Datagrams by name: what a filter sends, and what an attacker might."""
    ordinary = [
        protocol.sample(
            "compute", "GET", f"/v2.1/servers/{{id}}/r{n % 20}", 200, 0.01, 0, 100
        )
        for n in range(transport.ROWS_PER_DATAGRAM)
    ]
    # Every row a new route past max_routes, so each goes the slow way (in
    # format 1, which has no limit on label sets).
    folded = [
        ["compute", "GET", f"/new/{n}", 200, 0.01, 0, 100, None]
        for n in range(transport.ROWS_PER_DATAGRAM)
    ]
    rows = {"v": protocol.ROWS_FORMAT_VERSION, "rows": folded}
    # Projects as auth_token sets them: a skewed draw from 10,000 ids; and
    # ids no summary entry can be made of (each one counted as __other__).
    draw = random.Random(1)
    ids = [f"{n:032x}" for n in range(10_000)]
    weights = [1 / (n + 1) for n in range(10_000)]
    projects = draw.choices(ids, weights, k=len(ordinary))
    with_projects = [(*row[:-1], p) for row, p in zip(ordinary, projects, strict=True)]
    odd = [(*row[:-1], f"../{n}") for n, row in enumerate(ordinary)]
    return {
        "ordinary, 400 rows": protocol.encode_batch(ordinary),
        "400 rows with projects": protocol.encode_batch(with_projects),
        "400 odd project ids": protocol.encode_batch(odd),
        "400 rows, each folded": _batch_message(rows),
        # The most that is parsed, and more than is.
        "16,000 empty rows": _batch_message(_empty_rows(16_000)),
        "60,000 empty rows": _batch_message(_empty_rows(60_000)),
    }


def _empty_rows(count: int) -> dict[str, Any]:
    return {"v": protocol.ROWS_FORMAT_VERSION, "rows": [[]] * count}


def _batch_message(value: dict[str, Any]) -> bytes:
    """A batch written as given, as a hostile sender could."""
    message = {
        "module": protocol.MODULE,
        "name": protocol.BATCH,
        "action": {"action": "observe", "value": value},
        "labels": {},
    }
    return json.dumps(message).encode()


def datagram(args: argparse.Namespace) -> None:
    from oslo_metrics_middleware.collector import ingest as collector_ingest

    receiver = collector_ingest.configure(collector_ingest.Limits(max_routes=20))
    datagrams = _hostile_datagrams()
    times: dict[str, list[float]] = {name: [] for name in datagrams}
    for _ in range(args.rounds):
        for name, data in datagrams.items():
            started = time.process_time()
            for _ in range(args.repeat):
                receiver.datagram(data)
            times[name].append((time.process_time() - started) / args.repeat)
    print(f"{args.rounds} rounds of {args.repeat} datagrams each, CPU per datagram")
    for name, seconds in times.items():
        print(
            f"  {name:22} {len(datagrams[name]) / 1024:6.1f} KiB  median "
            f"{statistics.median(seconds) * 1e3:.3f} ms "
            f"[{min(seconds) * 1e3:.3f}-{max(seconds) * 1e3:.3f}]"
        )


# Bytes of label values the worst case gives each request label set: the
# budget of max_request_label_bytes spread over max_request_series, less the
# room the collector keeps for the __overflow__ label sets.  Service and
# method take SERVICE_BYTES and METHOD_BYTES, the route the rest; the action
# histogram's and exception counter's extra labels take a few bytes more.
SERVICE_BYTES = 16
METHOD_BYTES = 8
EXTRA_BYTES = 6
# The longest request id kept as an exemplar.
WORST_ID = "req-" + "f" * (checks.MAX_REQUEST_ID - len("req-"))
# A duration for each bucket, so that every bucket holds an exemplar.
WORST_DURATIONS = (*openstack_api.DURATION_BUCKETS, 120.0)


def _worst(kind: int, number: int, size: int) -> str:
    """A distinct label value of ``size`` UTF-8 bytes, as costly to write
    as one can be: a 4-byte character (one per ``kind``), the digits of
    ``number``, then quotes and backslashes, which the page escapes to two
    bytes each."""
    head = chr(0x1F300 + kind) + str(number)
    pad = size - len(head.encode())
    return head + ('"\\' * pad)[:pad]


def _worst_rows(services: int, limits: Limits) -> list[protocol.Sample]:
    """Request rows filling each request metric to max_request_series
    label sets and max_request_label_bytes, one row per duration bucket."""
    series = limits.max_request_series - (services + 1) * 5
    per_service = series // services
    per_set = limits.max_request_label_bytes // limits.max_request_series
    route_bytes = per_set - SERVICE_BYTES - METHOD_BYTES - 2 * EXTRA_BYTES
    values = limits.max_label_values
    rows = []
    for service in range(services):
        for route in range(per_service):
            labels = (
                _worst(0, service, SERVICE_BYTES), _worst(1, 0, METHOD_BYTES),
                _worst(2, route, route_bytes), 200,
            )
            extra = {
                "exception": _worst(3, route % values, EXTRA_BYTES * 2),
                "action": _worst(4, route % values, EXTRA_BYTES),
                "microversion": _worst(5, route // values, EXTRA_BYTES),
            }
            rows += [
                protocol.sample(*labels, duration, 10, 100, **extra,
                                request_id=WORST_ID)
                for duration in WORST_DURATIONS
            ]
    return rows


def _cpu_seconds(pid: int) -> float:
    """CPU time the process has used, user and system."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


# A send finds the socket's queue (10 datagrams by default) full only if
# the collector stopped reading for about 10 of these.
PACE = 0.01


class _PacedSender(threading.Thread):
    """Small datagrams, one every PACE seconds, never blocking: counts
    the sends that found the collector's queue full."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = str(path)
        self.sent = 0
        self.full = 0
        self.stop = threading.Event()
        self.datagram = protocol.encode_batch(
            [protocol.sample("paced", "GET", "/", 200, 0.001)]
        )

    def run(self) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.setblocking(False)
            while not self.stop.wait(PACE):
                try:
                    sender.sendto(self.datagram, self.path)
                    self.sent += 1
                except BlockingIOError:
                    self.full += 1


def worst(args: argparse.Namespace) -> None:
    limits = Limits(
        max_request_series=args.max_request_series,
        max_request_label_bytes=args.max_request_label_bytes,
    )
    rows = _worst_rows(args.services, limits)
    datagrams = _datagrams_of(rows)
    ways = {
        "text": ("", ""),
        "OpenMetrics+gzip": (PROMETHEUS_ACCEPT, "gzip"),
    }
    options = {
        "max_request_series": limits.max_request_series,
        "max_request_label_bytes": limits.max_request_label_bytes,
    }
    with CollectorProcess(options=options) as collector:
        assert collector.process is not None
        pid = collector.process.pid
        idle = _rss_mib(pid)
        _send(collector, datagrams)
        while _datagrams(collector) < len(datagrams):
            time.sleep(0.2)
        filled = _rss_mib(pid)
        times: dict[str, list[float]] = {way: [] for way in ways}
        cpu: dict[str, list[float]] = {way: [] for way in ways}
        sizes: dict[str, tuple[int, int]] = {}
        full = dict.fromkeys(ways, 0)
        sent = dict.fromkeys(ways, 0)
        for _ in range(args.rounds):
            for way, (accept, encoding) in ways.items():
                paced = _PacedSender(collector.socket_path)
                paced.start()
                request = urllib.request.Request(
                    collector.metrics_url,
                    headers={"Accept": accept, "Accept-Encoding": encoding},
                )
                used = _cpu_seconds(pid)
                started = time.perf_counter()
                with urllib.request.urlopen(request, timeout=600) as page:
                    body = page.read()
                times[way].append(time.perf_counter() - started)
                cpu[way].append(_cpu_seconds(pid) - used)
                paced.stop.set()
                paced.join()
                full[way] += paced.full
                sent[way] += paced.sent
                text = gzip.decompress(body) if encoding else body
                sizes[way] = (len(text), len(body))
        peak = _peak_rss_mib(pid)
        held = _series_page(collector)
    sets = len(rows) // len(WORST_DURATIONS)
    print(
        f"{sets:,} request label sets over {args.services} services, "
        f"{limits.max_request_label_bytes // limits.max_request_series} "
        f"bytes of labels each, every bucket with an exemplar of "
        f"{len(WORST_ID)} bytes; label sets held:\n  {held}\n"
        f"  RSS {idle:.0f} MiB idle, {filled:.0f} MiB filled, "
        f"{peak:.0f} MiB peak over {args.rounds} rounds"
    )
    for way, seconds in times.items():
        text_bytes, wire_bytes = sizes[way]
        print(
            f"  {way:17} {text_bytes / 1e6:7.1f} MB of text, {wire_bytes / 1e6:7.1f} "
            f"MB sent; scrape median {statistics.median(seconds):.2f} s "
            f"[{min(seconds):.2f}-{max(seconds):.2f}], collector CPU median "
            f"{statistics.median(cpu[way]):.2f} s [{min(cpu[way]):.2f}-"
            f"{max(cpu[way]):.2f}]; {sent[way]:,} paced sends, {full[way]:,} "
            f"found the queue full"
        )


def _series_page(collector: CollectorProcess) -> str:
    """Label sets held per request metric, and the requests folded by cap."""
    url = f"{collector.metrics_url}?name[]={SERIES}&name[]={OVERFLOW}"
    with urllib.request.urlopen(url, timeout=60) as page:
        lines = page.read().decode().splitlines()
    held = [
        f"{_label(line, 'metric').removeprefix('openstack_api_')} {_value(line):,.0f}"
        for line in lines
        if line.startswith(f'{SERIES}{{metric="openstack_api_')
    ]
    folded = dict.fromkeys(("series", "bytes"), 0.0)
    for line in lines:
        if line.startswith(OVERFLOW) and _label(line, "label") in folded:
            folded[_label(line, "label")] += _value(line)
    by_cap = ", ".join(f"{label} {count:,.0f}" for label, count in folded.items())
    return ", ".join(held) + "; requests folded by " + by_cap


def _label(line: str, name: str) -> str:
    return line.split(f'{name}="', 1)[1].split('"', 1)[0]


def _value(line: str) -> float:
    return float(line.rsplit(" ", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    rate = modes.add_parser("ingest", help="rows per second")
    rate.add_argument("--datagrams", type=int, default=500)
    rate.set_defaults(run=ingest)
    bounded = modes.add_parser("cap", help="RSS and scrape time at the cap")
    bounded.add_argument("--senders", type=int, default=3000)
    bounded.add_argument("--routes-per-sender", type=int, default=100)
    bounded.add_argument("--services", type=int, default=5)
    bounded.add_argument("--max-routes", type=int, default=1000)
    bounded.set_defaults(run=cap)
    written = modes.add_parser("scrape", help="/metrics against prometheus_client")
    written.add_argument("--routes", type=int, default=1000)
    written.add_argument("--rounds", type=int, default=7)
    written.set_defaults(run=scrape)
    single = modes.add_parser("datagram", help="CPU per datagram, hostile or not")
    single.add_argument("--rounds", type=int, default=9)
    single.add_argument("--repeat", type=int, default=20)
    single.set_defaults(run=datagram)
    worst_case = modes.add_parser("worst", help="/metrics at the caps, worst labels")
    worst_case.add_argument("--services", type=int, default=10)
    worst_case.add_argument("--rounds", type=int, default=3)
    worst_case.add_argument(
        "--max-request-series", type=int, default=Limits().max_request_series
    )
    worst_case.add_argument(
        "--max-request-label-bytes", type=int,
        default=Limits().max_request_label_bytes,
    )
    worst_case.set_defaults(run=worst)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
