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

"""Hostile or broken datagrams cannot hurt the real collector.

Each bad datagram below is refused and counted under exactly one reason;
the good rows around them are recorded exactly, and /metrics keeps
answering with a page Prometheus parses.
"""

from __future__ import annotations

import json
from pathlib import Path
import socket
from typing import Any
import urllib.request

from prometheus_client.parser import text_string_to_metric_families
import pytest

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import collectors
from tests.functional import servers

API = protocol.MODULE
DROPPED = "openstack_api_metrics_dropped_samples_total"
GOOD_ROUTE = "/v2.1/servers/{id}"


def _raw_batch(rows: list[Any], version: Any = protocol.ROWS_FORMAT_VERSION) -> bytes:
    """A format 1 batch whose rows are written as given (NaN included)."""
    return collectors.message(API, protocol.BATCH, "observe",
                              {"v": version, "rows": rows}, {})


def _column_batch(key: list[Any], **columns: Any) -> bytes:
    """A one-row format 2 batch, with ``columns`` written as given."""
    value = {"v": protocol.FORMAT_VERSION, "keys": [key], "k": "00",
             "d": [1000], "i": [0], "o": [10], **columns}
    return collectors.message(API, protocol.BATCH, "observe", value, {})


def _packed_batch(key: list[Any], *amounts: int, **fields: Any) -> bytes:
    """A one-row format 3 batch of ``amounts`` (duration, request and
    response bytes), with ``fields`` written as given."""
    packed = b"".join(
        number.to_bytes(8, "little", signed=True) for number in amounts or (1000, 0, 10)
    )
    value = {"v": protocol.PACKED_FORMAT_VERSION, "keys": [key], "k": "00",
             "n": packed.hex(), **fields}
    return collectors.message(API, protocol.BATCH, "observe", value, {})


GOOD_KEY = ["compute", "GET", GOOD_ROUTE, 200, None, None, None]


def _bad_row(reason: str, **fields: Any) -> tuple[str, bytes]:
    return reason, _raw_batch([collectors.row(**fields)])


LONG = "x" * 50_000
RPC_LABELS = {
    "call_type": "call", "exchange": None, "topic": "conductor",
    "namespace": None, "version": "1.0", "server": None, "fanout": False,
    "process": "", "method": "ping", "timeout": None,
}
# (reason, datagram): one refusal each.
BAD_DATAGRAMS: list[tuple[str, bytes]] = [
    ("malformed_json", b"not json"),
    ("malformed_json", b'{"module": "\xff\xfe"}'),
    ("malformed_json", b"[" * 60_000),
    ("bad_message", b"[]"),
    ("bad_message", json.dumps({"module": API, "name": "batch"}).encode()),
    ("bad_message", b'{"module": "openstack_api", "name": "batch", "labels": [],'
                    b' "action": {"action": "observe", "value": 1}}'),
    ("unknown_module", collectors.message("nova", "batch", "observe", None, {})),
    ("unknown_metric", collectors.message(API, "prometheus_client", "inc", 1, {})),
    ("unknown_metric", collectors.message(API, "collector_rows_total", "inc", 1, {})),
    ("unknown_metric",
     collectors.message("oslo_messaging", "prometheus_client", "inc", 1, {})),
    ("bad_action", collectors.message(API, "batch", "dec", 1, {})),
    ("bad_action", collectors.message(API, "batch", "inc", 1, {})),
    ("bad_action", collectors.message(
        API, "openstack_api_metrics_dropped_samples_total", "observe", 1,
        {"service": "compute", "reason": "buffer_full"})),
    ("bad_labels", collectors.message(
        API, "openstack_api_metrics_dropped_samples_total", "inc", 1,
        {"service": "compute"})),
    ("not_finite", collectors.message(
        API, "openstack_api_metrics_dropped_samples_total", "inc", float("nan"),
        {"service": "compute", "reason": "buffer_full"})),
    ("not_finite", collectors.message(
        API, "openstack_api_metrics_route_overflow_total", "inc", float("inf"),
        {"service": "compute"})),
    ("negative", collectors.message(
        API, "openstack_api_metrics_route_overflow_total", "inc", -3,
        {"service": "compute"})),
    ("bad_number", collectors.message(
        API, "openstack_api_metrics_route_overflow_total", "inc", "3",
        {"service": "compute"})),
    ("label_encoding", collectors.message(
        API, "openstack_api_metrics_route_overflow_total", "inc", 1,
        {"service": "\ud800"})),
    ("not_finite", collectors.message(
        "oslo_messaging", "rpc_client_processing_seconds", "observe",
        float("nan"), RPC_LABELS)),
    ("label_type", collectors.message(
        "oslo_messaging", "rpc_client_invocation_start_total", "inc", None,
        {**RPC_LABELS, "topic": {"nested": 1}})),
    ("bad_labels", collectors.message(
        "oslo_messaging", "rpc_client_invocation_start_total", "inc", None,
        {**RPC_LABELS, "extra": "x"})),
    # A request's over-long label is folded, not refused (see
    # test_collector_bounds.py); any other metric's is refused.
    ("label_length", collectors.message(
        "oslo_messaging", "rpc_client_invocation_start_total", "inc", None,
        {**RPC_LABELS, "topic": LONG})),
    ("unknown_reason", collectors.message(
        API, "openstack_api_metrics_dropped_samples_total", "inc", 1,
        {"service": "compute", "reason": "junk"})),
    ("bad_batch", collectors.message(API, "batch", "observe", {"v": 1}, {})),
    ("bad_batch", collectors.message(API, "batch", "observe", [1, 2], {})),
    ("bad_batch", _raw_batch([collectors.row()], version=2)),
    ("bad_batch", _column_batch(GOOD_KEY, k="zz")),
    ("bad_batch", _column_batch(GOOD_KEY, k="01")),
    ("bad_batch", _column_batch(GOOD_KEY, d=[1000, 2000])),
    ("bad_batch", _column_batch(GOOD_KEY[:3])),
    ("not_finite", _column_batch(GOOD_KEY, d=[float("nan")])),
    ("bad_batch", _packed_batch(GOOD_KEY, n="zz" * 24)),
    ("bad_batch", _packed_batch(GOOD_KEY, n="00" * 23)),
    ("bad_batch", _packed_batch(GOOD_KEY, n=[1000, 0, 10])),
    ("bad_batch", _packed_batch(GOOD_KEY, k="0000")),
    ("bad_batch", _packed_batch(GOOD_KEY, k="01")),
    ("bad_batch", _packed_batch(GOOD_KEY[:3])),
    ("negative", _packed_batch(GOOD_KEY, 1000, -1, 10)),
    ("out_of_range", _packed_batch(GOOD_KEY, 2**63 - 1, 0, 10)),
    ("bad_status", _packed_batch([*GOOD_KEY[:3], 99, None, None, None])),
    ("bad_status", _column_batch([*GOOD_KEY[:3], "200", None, None, None])),
    ("bad_row", _raw_batch([["compute", "GET"]])),
    ("bad_row", _raw_batch([{"service": "compute"}])),
    ("bad_row", _raw_batch(["not a row"])),
    _bad_row("not_finite", duration=float("nan")),
    _bad_row("not_finite", duration=float("inf")),
    _bad_row("not_finite", response_bytes=float("-inf")),
    _bad_row("negative", duration=-0.5),
    _bad_row("negative", request_bytes=-1),
    _bad_row("out_of_range", response_bytes=10**400),
    _bad_row("out_of_range", duration=1e300),
    _bad_row("bad_number", duration="0.1"),
    _bad_row("bad_number", duration=True),
    _bad_row("bad_number", request_bytes=None),
    _bad_row("bad_status", status=True),
    _bad_row("bad_status", status="200"),
    _bad_row("bad_status", status=200.0),
    _bad_row("bad_status", status=99),
    _bad_row("bad_status", status=600),
    _bad_row("bad_status", status=None),
    _bad_row("label_encoding", route="/v2.1/\ud800"),
    _bad_row("label_encoding", service="\udfff"),
    _bad_row("label_encoding", exception="Bad\ud83d"),
    _bad_row("label_type", service=5),
    _bad_row("label_type", method=None),
    _bad_row("label_type", route=["/a"]),
    _bad_row("label_type", route={"a": 1}),
    _bad_row("label_type", exception=5),
    _bad_row("label_type", exception=["Timeout"]),
    ("label_type", _raw_batch([[*collectors.row(), None, "2.1"]])),
    ("label_encoding", _raw_batch([[*collectors.row(), "os-start", "\ud800"]])),
]


def _rows_claimed(datagram: bytes) -> int:
    """Rows a batch datagram carries, by the shape of either format."""
    try:
        value = json.loads(datagram)["action"]["value"]
    except (ValueError, TypeError, KeyError, RecursionError):
        return 0
    for column in ("rows", "d"):
        if isinstance(value, dict) and isinstance(value.get(column), list):
            return len(value[column])
    if isinstance(value, dict) and isinstance(value.get("k"), str):
        return len(value["k"]) // 2  # format 3
    return 0


# Rows of batches the collector could read, each refused on its own, and
# rows of batches refused whole.
BAD_ROWS = sum(
    _rows_claimed(datagram) for reason, datagram in BAD_DATAGRAMS
    if reason != "bad_batch"
)
REFUSED_ROWS = sum(
    _rows_claimed(datagram) for reason, datagram in BAD_DATAGRAMS
    if reason == "bad_batch"
)


def _scrape_page(collector: CollectorProcess) -> str:
    with urllib.request.urlopen(collector.metrics_url, timeout=10) as page:
        assert page.status == 200
        return str(page.read().decode())


def test_bad_datagrams_are_refused_and_counted_by_reason(tmp_path: Path) -> None:
    good = collectors.row(exception="Timeout")
    mixed = _raw_batch([good, collectors.row(duration=float("nan")), good])
    with CollectorProcess(workdir=tmp_path) as collector:
        collectors.send(
            collector.socket_path,
            *(datagram for _, datagram in BAD_DATAGRAMS),
            mixed,
        )
        series = collectors.wait_datagrams(collector, len(BAD_DATAGRAMS) + 1)
        page = _scrape_page(collector)

    expected: dict[str, int] = {}
    for reason, _ in BAD_DATAGRAMS:
        expected[reason] = expected.get(reason, 0) + 1
    expected["not_finite"] += 1  # the bad row of the mixed batch
    rejected = {
        dict(labels)["reason"]: amount
        for (name, labels), amount in series.items()
        if name == collectors.REJECTED and amount
    }
    assert rejected == expected
    assert servers.value(series, collectors.DATAGRAMS) == len(BAD_DATAGRAMS) + 1
    # Every row of a readable batch is counted, good and bad; every row
    # refused is dropped, alone or with its whole batch.
    assert servers.value(series, collectors.ROWS) == BAD_ROWS + 3
    assert servers.value(series, DROPPED, service="", reason="malformed") == (
        BAD_ROWS + REFUSED_ROWS + 1
    )
    # The good rows around the bad one are recorded, nothing else is.
    assert servers.requests_counted(series) == 2
    assert servers.value(
        series, "openstack_api_exceptions_total", service="compute",
        method="GET", route=GOOD_ROUTE, exception="Timeout",
    ) == 2
    assert servers.value(
        series, "openstack_api_metrics_route_overflow_total", service="compute"
    ) == 0
    # The page parses, and no value or label carries what was refused.
    families = list(text_string_to_metric_families(page))
    assert families
    assert "NaN" not in page and "Inf" not in page.replace("+Inf", "")
    assert "xxxxxxxxxx" not in page


def test_oversized_datagram_is_refused(tmp_path: Path) -> None:
    huge = _raw_batch([collectors.row()] * 5000)
    assert len(huge) > 256 * 1024
    with CollectorProcess(workdir=tmp_path) as collector:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * len(huge))
            try:
                sender.sendto(huge, str(collector.socket_path))
            except OSError as exc:
                pytest.skip(f"the kernel refuses a datagram this large: {exc}")
        collectors.send(collector.socket_path, collectors.batch([collectors.row()]))
        series = collectors.wait_datagrams(collector, 2)
    assert servers.value(series, collectors.REJECTED, reason="oversized") == 1
    assert servers.requests_counted(series) == 1


def test_upstream_daemon_would_fail_on_a_lone_surrogate_we_do_not(
    tmp_path: Path,
) -> None:
    """The datagram that made upstream's /metrics answer 500 for good."""
    poison = collectors.message(
        "oslo_messaging", "rpc_client_invocation_start_total", "inc", None,
        {**RPC_LABELS, "method": "\ud800"},
    )
    with CollectorProcess(workdir=tmp_path) as collector:
        collectors.send(collector.socket_path, poison)
        series = collectors.wait_datagrams(collector, 1)
        _scrape_page(collector)
    assert servers.value(series, collectors.REJECTED, reason="label_encoding") == 1

