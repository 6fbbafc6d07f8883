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

"""What a hostile sender cannot do to the real collector's counts and caps.

Its own counters keep counting real events however much junk came first,
refused input takes no room under a cap, every cap holds with the
``__overflow__`` label sets included, label bytes are bounded, and a
datagram's cost is bounded by the rows a filter really sends.
"""

from __future__ import annotations

from pathlib import Path
import socket
from typing import Any

from prometheus_client.openmetrics.parser import text_string_to_metric_families

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import collectors
from tests.functional import servers

API = protocol.MODULE
OVERFLOW = "__overflow__"
DROPPED = servers.DROPPED
SERIES = "oslo_metrics_collector_series"
DURATION = servers.DURATION
REQUEST_METRICS = (
    DURATION,
    "openstack_api_request_size_bytes",
    "openstack_api_response_size_bytes",
    "openstack_api_action_duration_seconds",
    "openstack_api_exceptions",
)


def _dropped(service: str, reason: str, amount: int = 1) -> bytes:
    return protocol.encode_increment(
        "openstack_api_metrics_dropped_samples_total", amount,
        {"service": service, "reason": reason},
    )


def _labels(
    series: servers.Series, name: str, *keys: str
) -> dict[tuple[str, ...], float]:
    return {
        tuple(dict(labels)[key] for key in keys): amount
        for (sample, labels), amount in series.items()
        if sample == name
    }


def _held(series: servers.Series, metric: str) -> float:
    return servers.value(series, SERIES, metric=metric)


def _run(options: dict[str, Any], tmp_path: Path, *datagrams: bytes) -> servers.Series:
    with CollectorProcess(workdir=tmp_path, options=options) as collector:
        for datagram in datagrams:
            collectors.send(collector.socket_path, datagram)
        return collectors.wait_datagrams(collector, len(datagrams))


def test_junk_drop_reasons_cannot_crowd_out_real_ones(tmp_path: Path) -> None:
    junk = [_dropped("compute", f"junk{n}", 0) for n in range(30)]
    junk += [_dropped(f"evil{n}", f"junk{n}") for n in range(10)]
    real = [_dropped("compute", "buffer_full", 251), _dropped("compute", "exit", 7),
            _dropped("", "send_error", 3)]
    good = collectors.batch([collectors.row(service=name)
                             for name in ("compute", "image", "volume")])
    options = {"max_series_per_metric": 2, "max_services": 3}
    series = _run(options, tmp_path, *junk, *real, good)

    dropped = {key: amount for key, amount in
               _labels(series, DROPPED, "service", "reason").items() if amount}
    assert dropped == {("compute", "buffer_full"): 251, ("compute", "exit"): 7,
                       ("", "send_error"): 3}
    assert not any(reason.startswith("junk") for _, reason in
                   _labels(series, DROPPED, "service", "reason"))
    assert servers.value(series, collectors.REJECTED, reason="unknown_reason") == 40
    assert servers.value(series, collectors.REJECTED, reason="series_limit") == 0
    # The junk took no service slot: "" and compute did, then image, and
    # volume is the first service folded.
    assert {service for service, *_ in
            _labels(series, f"{DURATION}_count", "service")} == {
        "compute", "image", OVERFLOW}
    assert servers.value(series, collectors.OVERFLOW, service=OVERFLOW,
                         label="service") == 1


def test_overflow_counts_requests_in_both_formats(tmp_path: Path) -> None:
    """200 requests folded by max_routes count 200, however they came."""
    def rows(service: str) -> list[list[Any]]:
        return [collectors.row(service=service, route="/kept")] + [
            collectors.row(service=service, route=f"/r{n % 3}") for n in range(200)
        ]

    format_1 = collectors.message(API, protocol.BATCH, "observe", {
        "v": protocol.ROWS_FORMAT_VERSION, "rows": rows("image")}, {})
    series = _run({"max_routes": 1}, tmp_path,
                  collectors.batch(rows("compute")), format_1)

    for service in ("compute", "image"):
        assert servers.value(series, collectors.OVERFLOW, service=service,
                             label="route") == 200
        assert servers.value(series, f"{DURATION}_count", service=service,
                             method="GET", route=OVERFLOW, status="200") == 200
        assert servers.requests_counted(series, service=service) == 201


def test_refused_input_takes_no_room(tmp_path: Path) -> None:
    bad_labels = [
        collectors.message(API, "openstack_api_metrics_route_overflow_total",
                           "inc", 1, {"service": f"bad{n}", "extra": "x"})
        for n in range(5)
    ]
    bad_rows = collectors.batch(
        [collectors.row(service=f"nan{n}", duration=float("nan")) for n in range(5)]
    )
    keys = [[f"s{n}", "GET", f"/k{n}", 200, None, None, None] for n in range(256)]
    no_rows = collectors.message(API, protocol.BATCH, "observe", {
        "v": protocol.FORMAT_VERSION, "keys": keys, "k": "", "d": [], "i": [],
        "o": []}, {})
    one_row = collectors.message(API, protocol.BATCH, "observe", {
        "v": protocol.FORMAT_VERSION, "keys": keys, "k": "05", "d": [1000],
        "i": [0], "o": [10]}, {})
    good = collectors.batch([collectors.row(service=name)
                             for name in ("compute", "image")])
    series = _run({"max_services": 3}, tmp_path,
                  *bad_labels, bad_rows, no_rows, one_row, good)

    assert servers.value(series, collectors.REJECTED, reason="bad_labels") == 5
    assert servers.value(series, collectors.REJECTED, reason="not_finite") == 5
    assert _labels(series, f"{DURATION}_count", "service", "route") == {
        ("s5", "/k5"): 1, ("compute", collectors.row()[2]): 1,
        ("image", collectors.row()[2]): 1,
    }
    assert _held(series, DURATION) == 3
    assert servers.value(series, collectors.OVERFLOW, service=OVERFLOW,
                         label="service") == 0


def test_every_request_metric_holds_at_most_max_request_series(
    tmp_path: Path,
) -> None:
    """With the __overflow__ label sets, no request metric passes its cap."""
    statuses = (200, 201, 404, 409, 500, 503, 302, 101)
    rows: list[list[Any]] = []
    for service in ("compute", "image", "volume"):
        for n in range(12):
            status = statuses[n % len(statuses)]
            base = collectors.row(service=service, route=f"/r{n}", status=status,
                                  exception=f"E{n % 4}")
            rows.append([*base, f"a{n % 5}", "2.1"])
    options = {"max_request_series": 30}
    series = _run(options, tmp_path, collectors.batch(rows[:18]),
                  collectors.batch(rows[18:]))

    for metric in REQUEST_METRICS:
        assert 1 <= _held(series, metric) <= 30, metric
    assert servers.requests_counted(series) == len(rows)
    assert servers.total(series, "openstack_api_action_duration_seconds_count") == (
        len(rows))
    assert servers.total(series, "openstack_api_exceptions_total") == len(rows)
    # Every request folded by the cap is counted once, whichever metric
    # folded it.
    folded = sum(servers.value(series, collectors.OVERFLOW, service=service,
                               label="series")
                 for service in ("compute", "image", "volume", OVERFLOW))
    durations = _labels(series, f"{DURATION}_count", "service", "route")
    actions = _labels(series, "openstack_api_action_duration_seconds_count",
                      "service", "route", "action")
    exceptions = _labels(series, "openstack_api_exceptions_total",
                         "service", "route", "exception")
    unfolded = sum(
        1 for row in rows
        if (row[0], row[2]) in durations
        and (row[0], row[2], row[8]) in actions
        and (row[0], row[2], row[7]) in exceptions
    )
    assert folded == len(rows) - unfolded
    assert folded > 0


def test_label_values_are_bounded_in_bytes(tmp_path: Path) -> None:
    wide = "\U0001f600" * 200  # 800 bytes of UTF-8 in 200 characters
    fits = "/" + "x" * 255  # 256 bytes: the default bound
    rows = [
        collectors.row(route=wide),
        collectors.row(route=fits),
        collectors.row(route="/" + "x" * 256),
        collectors.row(service=wide, route="/s"),
        collectors.row(route="/e", exception="E" * 300),
    ]
    rpc = collectors.message("oslo_messaging", "rpc_client_invocation_start_total",
                             "inc", None, {
                                 "call_type": "call", "exchange": None,
                                 "topic": wide, "namespace": None,
                                 "version": "1.0", "server": None,
                                 "fanout": False, "process": "",
                                 "method": "ping", "timeout": None})
    with CollectorProcess(workdir=tmp_path) as collector:
        collectors.send(collector.socket_path, collectors.batch(rows), rpc)
        series = collectors.wait_datagrams(collector, 2)
        page = collector.scrape()

    assert servers.requests_counted(series) == 5
    assert _labels(series, f"{DURATION}_count", "service", "route") == {
        ("compute", OVERFLOW): 2, ("compute", fits): 1, (OVERFLOW, "/s"): 1,
        ("compute", "/e"): 1,
    }
    assert servers.value(series, collectors.OVERFLOW, service="compute",
                         label="route") == 2
    assert servers.value(series, collectors.OVERFLOW, service=OVERFLOW,
                         label="service") == 1
    assert servers.value(series, collectors.OVERFLOW, service="compute",
                         label="exception") == 1
    assert _labels(series, "openstack_api_exceptions_total", "exception") == {
        (OVERFLOW,): 1}
    assert servers.value(series, collectors.REJECTED, reason="label_length") == 1
    assert "\U0001f600" not in page and "x" * 256 not in page


def test_rows_per_datagram_are_bounded(tmp_path: Path) -> None:
    """At most the rows a filter puts in one datagram, and the bytes the
    upstream daemon reads; more are refused whole, before any row is
    looked at."""
    def empty_rows(count: int) -> bytes:
        return collectors.message(API, protocol.BATCH, "observe", {
            "v": protocol.ROWS_FORMAT_VERSION, "rows": [[]] * count}, {})

    hostile = empty_rows(60_000)
    assert len(hostile) > 200_000
    readable = empty_rows(16_000)
    assert len(readable) <= protocol.UPSTREAM_READ_SIZE
    most = collectors.batch([collectors.row()] * protocol.MAX_ROWS)
    too_many = collectors.batch([collectors.row()] * (protocol.MAX_ROWS + 1))
    with CollectorProcess(workdir=tmp_path) as collector:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF,
                              2 * len(hostile))
            for datagram in (hostile, readable, most, too_many):
                sender.sendto(datagram, str(collector.socket_path))
        series = collectors.wait_datagrams(collector, 4)

    assert servers.value(series, collectors.REJECTED, reason="oversized") == 1
    assert servers.value(series, collectors.REJECTED, reason="too_many_rows") == 2
    assert servers.value(series, collectors.REJECTED, reason="bad_row") == 0
    assert servers.value(series, DROPPED, service="", reason="malformed") == (
        16_000 + protocol.MAX_ROWS + 1)
    assert servers.requests_counted(series) == protocol.MAX_ROWS


def test_drop_and_overflow_counters_read_zero_for_each_service_seen(
    tmp_path: Path,
) -> None:
    with CollectorProcess(workdir=tmp_path) as collector:
        before = servers.scrape(collector)
        collectors.send(collector.socket_path,
                        collectors.batch([collectors.row(service="image")]))
        series = collectors.wait_datagrams(collector, 1)

    assert _labels(before, DROPPED, "service") == {}
    assert _labels(series, DROPPED, "service", "reason") == {
        ("image", reason): 0 for reason in protocol.DROP_REASONS}
    assert _labels(series, collectors.OVERFLOW, "service", "label") == {
        ("image", label): 0 for label in
        ("service", "method", "route", "exception", "action", "microversion",
         "series", "bytes")}
    for counter in ("route", "action", "microversion"):
        assert servers.value(
            series, f"openstack_api_metrics_{counter}_overflow_total",
            service="image") == 0
        assert (f"openstack_api_metrics_{counter}_overflow_total",
                frozenset({("service", "image")})) in series


def _label_bytes(series: servers.Series, name: str) -> int:
    """UTF-8 bytes of the free labels (all but status and le) of every
    label set of ``name``, as the page shows them."""
    held = {
        frozenset(item for item in labels if item[0] not in ("status", "le"))
        for sample, labels in series
        if sample == name
    }
    return sum(len(value.encode()) for labels in held for _, value in labels)


def test_request_label_bytes_are_bounded_per_metric(tmp_path: Path) -> None:
    """max_request_label_bytes holds for each request metric, the room of
    the __overflow__ label sets included, and every folded request counts.

    With 1,024 bytes, the duration histogram keeps room for compute's five
    fallback sets (5 x 31 bytes) and __overflow__'s (5 x 36): six routes of
    110 bytes fit.  The exception counter keeps 43 + 48 bytes: three label
    sets of 310 bytes fit; past the sixth route, a request's exception
    label set (compute, __overflow__, __overflow__, E...) of 231 bytes no
    longer does either.
    """
    def route(n: int) -> str:
        # 100 bytes, every other one of 4-byte characters.
        head = f"/{n:02d}"
        return head + ("\U0001f600" * 24 + "x" if n % 2 else "x" * 97)

    assert {len(route(n).encode()) for n in range(20)} == {100}
    error = "E" * 200
    rows = [collectors.row(route=route(n), exception=error) for n in range(20)]
    options = {"max_request_label_bytes": 1024}
    series = _run(options, tmp_path, collectors.batch(rows[:7]),
                  collectors.batch(rows[7:]))

    assert servers.requests_counted(series) == 20
    assert servers.total(series, "openstack_api_exceptions_total") == 20
    assert _labels(series, f"{DURATION}_count", "route", "status") == {
        **{(route(n), "200"): 1 for n in range(6)}, (OVERFLOW, "2xx"): 14}
    assert _labels(series, "openstack_api_exceptions_total", "route",
                   "exception") == {
        **{(route(n), error): 1 for n in range(3)}, (OVERFLOW, OVERFLOW): 17}
    assert servers.value(series, collectors.OVERFLOW, service="compute",
                         label="bytes") == 17
    assert servers.value(series, collectors.OVERFLOW, service="compute",
                         label="series") == 0
    assert _label_bytes(series, f"{DURATION}_count") == 6 * 110 + 31
    assert _label_bytes(series, "openstack_api_request_size_bytes_count") == (
        6 * 110 + 31)
    assert _label_bytes(series, "openstack_api_exceptions_total") == 3 * 310 + 43
    for metric in REQUEST_METRICS:
        suffix = "_total" if metric.endswith("exceptions") else "_count"
        assert _label_bytes(series, metric + suffix) <= 1024, metric


def test_exemplars_are_only_request_ids(tmp_path: Path) -> None:
    """Request ids as filters send them become exemplars; anything else is
    left out, and its request still counts, in both formats."""
    kept = ["req-0b6a9c3e-52d4-4f43-9d0e-7c1f3b2a8e61", "tx4f1c" + "a" * 58,
            "x"]
    left_out = ["a" * 65, 'req-"quoted"', "req\\back", "req-\u00e9",
                "req-\x07", "req-\U0001f600"]
    ids = kept + left_out
    rows = [collectors.row(route=f"/r{n}") for n in range(len(ids))]
    format_2 = protocol.encode_batch([
        protocol.sample(*row[:7], request_id=request_id)
        for row, request_id in zip(rows, ids, strict=True)])
    format_1 = collectors.message(API, protocol.BATCH, "observe", {
        "v": protocol.ROWS_FORMAT_VERSION,
        "rows": [[*row, request_id] for row, request_id in zip(rows, ids,
                                                               strict=True)]},
        {})
    for name, datagram in (("format 2", format_2), ("format 1", format_1)):
        workdir = tmp_path / name.replace(" ", "")
        workdir.mkdir()
        with CollectorProcess(workdir=workdir) as collector:
            collectors.send(collector.socket_path, datagram)
            series = collectors.wait_datagrams(collector, 1)
            page = collector.scrape_as_prometheus()[0].decode()
        exemplars = {
            sample.labels["route"]: sample.exemplar.labels["request_id"]
            for family in text_string_to_metric_families(page)
            if family.name == DURATION
            for sample in family.samples
            if sample.exemplar is not None
        }
        assert exemplars == {f"/r{n}": kept[n] for n in range(len(kept))}, name
        assert servers.requests_counted(series) == len(ids), name
        assert servers.value(series, collectors.REJECTED, reason="bad_row") == 0
