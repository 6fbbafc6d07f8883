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

"""The collector-wide cardinality cap, across every sender of the host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import collectors
from tests.functional import servers

OVERFLOW = "__overflow__"
CAPS = {"max_routes": 50, "max_label_values": 3, "max_services": 3,
        "max_series_per_metric": 2}


def _routes(first: int, last: int) -> list[list[Any]]:
    return [collectors.row(route=f"/r{n}") for n in range(first, last)]


def _route_values(series: servers.Series, service: str) -> set[str]:
    return {
        dict(labels)["route"]
        for name, labels in series
        if name == collectors.DURATION_COUNT and dict(labels)["service"] == service
    }


def _overflow(series: servers.Series, service: str, label: str) -> float:
    return servers.value(series, collectors.OVERFLOW, service=service, label=label)


def test_caps_hold_across_senders_and_overflow_is_counted(tmp_path: Path) -> None:
    # Three processes' worth of routes, 80 distinct, overlapping.
    senders = [
        _routes(0, 40),
        _routes(20, 60),
        [*_routes(40, 80), collectors.row(route=OVERFLOW)],
    ]
    image = [
        collectors.row(service="image", route="/images", exception=f"E{n}")
        for n in range(5)
    ] + [
        [*collectors.row(service="image", route="/images"), f"a{n}", "2.1"]
        for n in range(5)
    ]
    volume = [
        collectors.row(service="volume", route="/volumes", method=method)
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH")
    ]
    network = [collectors.row(service="network", route="/networks")]
    counters = [
        protocol.encode_increment(
            "openstack_api_metrics_dropped_samples_total", 1,
            {"service": "compute", "reason": reason},
        )
        for reason in ("buffer_full", "send_error", "exit", "third")
    ]
    rpc = [
        collectors.message(
            "oslo_messaging", "rpc_client_invocation_start_total", "inc", None,
            {"call_type": "call", "exchange": None, "topic": topic,
             "namespace": None, "version": "1.0", "server": None,
             "fanout": False, "process": "", "method": "ping", "timeout": None},
        )
        for topic in ("conductor", "scheduler", "compute")
    ]
    datagrams = [collectors.batch(rows) for rows in
                 (*senders, image, volume, network)] + counters + rpc
    with CollectorProcess(workdir=tmp_path, options=CAPS) as collector:
        for datagram in datagrams:  # one sender socket each, in order
            collectors.send(collector.socket_path, datagram)
        series = collectors.wait_datagrams(collector, len(datagrams))

    # The first 50 routes to arrive are kept; the other 30 are folded.
    assert _route_values(series, "compute") == {
        *(f"/r{n}" for n in range(50)), OVERFLOW
    }
    assert servers.value(
        series, collectors.DURATION_COUNT, service="compute", method="GET",
        route=OVERFLOW, status="200",
    ) == 10 + 30 + 1
    # The row the filter had already folded is not counted again.
    assert _overflow(series, "compute", "route") == 40
    assert servers.requests_counted(series, service="compute") == 121

    exceptions = {
        dict(labels)["exception"]: amount for (name, labels), amount in series.items()
        if name == "openstack_api_exceptions_total"
    }
    assert exceptions == {"E0": 1, "E1": 1, "E2": 1, OVERFLOW: 2}
    assert _overflow(series, "image", "exception") == 2
    actions = {
        dict(labels)["action"]: amount for (name, labels), amount in series.items()
        if name == "openstack_api_action_duration_seconds_count"
    }
    assert actions == {"a0": 1, "a1": 1, "a2": 1, OVERFLOW: 2}
    assert _overflow(series, "image", "action") == 2
    assert _overflow(series, "image", "microversion") == 0

    methods = {
        dict(labels)["method"] for name, labels in series
        if name == collectors.DURATION_COUNT and dict(labels)["service"] == "volume"
    }
    assert methods == {"GET", "POST", "PUT", OVERFLOW}
    assert _overflow(series, "volume", "method") == 2

    assert servers.requests_counted(series, service=OVERFLOW) == 1
    assert _overflow(series, OVERFLOW, "service") == 1

    # The filters' counters: every real reason, nothing else; upstream
    # single-message metrics: two label sets, the third refused.
    dropped = {
        dict(labels)["reason"] for (name, labels), amount in series.items()
        if name == "openstack_api_metrics_dropped_samples_total"
        and dict(labels)["service"] == "compute" and amount
    }
    assert dropped == {"buffer_full", "send_error", "exit"}
    assert servers.value(series, collectors.REJECTED, reason="unknown_reason") == 1
    assert servers.value(
        series, "oslo_metrics_collector_series",
        metric="oslo_messaging_rpc_client_invocation_start",
    ) == 2
    assert servers.value(series, collectors.REJECTED, reason="series_limit") == 1

    # Label sets held: 51 compute routes, 1 image, 4 volume, 1 folded service.
    assert servers.value(
        series, "oslo_metrics_collector_series",
        metric="openstack_api_request_duration_seconds",
    ) == 51 + 1 + 4 + 1
    assert servers.value(
        series, "oslo_metrics_collector_series",
        metric="openstack_api_action_duration_seconds",
    ) == 4


def test_label_sets_of_request_metrics_are_capped(tmp_path: Path) -> None:
    """Routes, methods and statuses each within their caps can still
    multiply; the request metrics hold at most max_request_series label
    sets each, fallbacks included, and fold the rest by service and status
    class."""
    rows = [
        collectors.row(route=f"/r{n}", status=status, method=method)
        for n in range(4)
        for method in ("GET", "DELETE")
        for status in (200, 404, 503)
    ]  # 24 label sets
    failing = [collectors.row(route=f"/r{n}", exception="Timeout") for n in range(4)]
    actions = [
        [*collectors.row(route="/r0"), f"a{n}", "2.1"] for n in range(4)
    ]
    datagrams = [collectors.batch(rows), collectors.batch(failing),
                 collectors.batch(actions)]
    options = {"max_request_series": 20}
    with CollectorProcess(workdir=tmp_path, options=options) as collector:
        for datagram in datagrams:
            collectors.send(collector.socket_path, datagram)
        series = collectors.wait_datagrams(collector, len(datagrams))

    counts = {
        tuple(dict(labels)[key] for key in ("method", "route", "status")): amount
        for (name, labels), amount in series.items()
        if name == collectors.DURATION_COUNT
    }
    # Room is kept for compute's five status classes and __overflow__'s:
    # the first ten label sets to arrive are kept, then one per class.
    assert counts == {
        ("GET", "/r0", "200"): 1 + 1 + 4,
        ("GET", "/r0", "404"): 1,
        ("GET", "/r0", "503"): 1,
        ("DELETE", "/r0", "200"): 1,
        ("DELETE", "/r0", "404"): 1,
        ("DELETE", "/r0", "503"): 1,
        ("GET", "/r1", "200"): 1 + 1,
        ("GET", "/r1", "404"): 1,
        ("GET", "/r1", "503"): 1,
        ("DELETE", "/r1", "200"): 1,
        (OVERFLOW, OVERFLOW, "4xx"): 5,
        (OVERFLOW, OVERFLOW, "5xx"): 5,
        (OVERFLOW, OVERFLOW, "2xx"): 4 + 2,
    }
    assert servers.requests_counted(series) == 24 + 4 + 4
    assert _overflow(series, "compute", "series") == 14 + 2
    sizes = {
        tuple(dict(labels)[key] for key in ("method", "route")): amount
        for (name, labels), amount in series.items()
        if name == "openstack_api_response_size_bytes_count"
    }
    assert sizes == {("GET", "/r0"): 8, ("DELETE", "/r0"): 3, ("GET", "/r1"): 4,
                     ("DELETE", "/r1"): 1, (OVERFLOW, OVERFLOW): 16}
    exceptions = {
        dict(labels)["route"]: amount for (name, labels), amount in series.items()
        if name == "openstack_api_exceptions_total"
    }
    assert exceptions == {"/r0": 1, "/r1": 1, OVERFLOW: 2}
    action_sets = {
        dict(labels)["action"]: amount for (name, labels), amount in series.items()
        if name == "openstack_api_action_duration_seconds_count"
    }
    assert action_sets == {"a0": 1, "a1": 1, "a2": 1, "a3": 1}
    for metric, held in ((servers.DURATION, 13), ("openstack_api_exceptions", 3),
                         ("openstack_api_action_duration_seconds", 4)):
        assert servers.value(series, "oslo_metrics_collector_series",
                             metric=metric) == held


def test_a_full_metric_folds_new_services_into_overflow(tmp_path: Path) -> None:
    """A service that comes when a request metric has no room left for its
    fallbacks is recorded under service __overflow__, still within the cap."""
    first = [collectors.row(route=f"/r{n}") for n in range(12)]
    late = [collectors.row(service="image", route="/images", status=status)
            for status in (200, 503, 200)]
    options = {"max_request_series": 20}
    with CollectorProcess(workdir=tmp_path, options=options) as collector:
        for rows in (first, late):
            collectors.send(collector.socket_path, collectors.batch(rows))
        series = collectors.wait_datagrams(collector, 2)

    counts = {
        tuple(dict(labels)[key] for key in ("service", "route", "status")): amount
        for (name, labels), amount in series.items()
        if name == collectors.DURATION_COUNT
    }
    assert counts == {
        **{("compute", f"/r{n}", "200"): 1 for n in range(10)},
        ("compute", OVERFLOW, "2xx"): 2,
        (OVERFLOW, OVERFLOW, "2xx"): 2,
        (OVERFLOW, OVERFLOW, "5xx"): 1,
    }
    assert _overflow(series, "compute", "series") == 2
    assert _overflow(series, "image", "series") == 3
    assert servers.value(series, "oslo_metrics_collector_series",
                         metric=servers.DURATION) == 13
