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

"""From a datagram to the metrics, in-process: messages of the filter's
counters and of the upstream daemon's modules, refusals by reason, folds
counted in requests, both paths of a format 2 batch, the process's Ingest.

The registry is the process's own: every test reads what it adds to it.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import json
import logging
from typing import Any
import uuid

import oslo_metrics.metrics.oslo_messaging as upstream
import prometheus_client
import pytest

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector import ingest
from oslo_metrics_middleware.collector import openstack_api as api
from oslo_metrics_middleware.collector.caps import Limits
from oslo_metrics_middleware.routing.labels import OVERFLOW

DROPPED = "openstack_api_metrics_dropped_samples_total"
REJECTED = "oslo_metrics_collector_rejected_total"
DATAGRAMS = "oslo_metrics_collector_datagrams_total"
OVERFLOWS = "oslo_metrics_collector_overflow_total"
COUNT = "openstack_api_request_duration_seconds_count"
RPC = "rpc_server_invocation_start_total"
# Its name as exposed: the upstream module's metrics carry its prefix.
SHOWN = "oslo_messaging_"
RPC_LABELS = {
    "exchange": "nova", "topic": "compute", "server": None, "endpoint": "E",
    "namespace": True, "version": 1.2, "method": "build", "process": 7,
}

Where = tuple[str, dict[str, str]]


def _value(name: str, labels: dict[str, str]) -> float:
    return prometheus_client.REGISTRY.get_sample_value(name, labels) or 0.0


@contextlib.contextmanager
def _added(watched: dict[str, Where]) -> Iterator[dict[str, float]]:
    """What the block adds to each watched sample, filled in at its end."""
    before = {key: _value(*where) for key, where in watched.items()}
    added: dict[str, float] = {}
    yield added
    added.update(
        {key: _value(*where) - before[key] for key, where in watched.items()}
    )


def _rejected() -> dict[str, Where]:
    watched = {reason: (REJECTED, {"reason": reason}) for reason in ingest.REASONS}
    watched["datagrams"] = (DATAGRAMS, {})
    return watched


def _refusals(added: dict[str, float]) -> dict[str, float]:
    """The reasons counted, and how often; datagrams under their key."""
    return {key: amount for key, amount in added.items() if amount}


def _message(module: str, name: str, action: str, value: Any,
             labels: dict[str, Any]) -> bytes:
    return json.dumps({"module": module, "name": name, "labels": labels,
                       "action": {"action": action, "value": value}}).encode()


def _dropped(service: str, reason: str, value: Any = 3) -> bytes:
    return _message(protocol.MODULE, DROPPED, "inc", value,
                    {"service": service, "reason": reason})


def _batch(keys: list[list[Any]], indexes: list[int], durations: list[Any],
           **extra: Any) -> bytes:
    """A format 2 batch: sizes 10 and 20 bytes, no request ids."""
    rows = len(indexes)
    value = {
        "v": protocol.FORMAT_VERSION, "keys": keys,
        "k": "".join(f"{index:02x}" for index in indexes),
        "d": durations, "i": [10] * rows, "o": [20] * rows, **extra,
    }
    return _message(protocol.MODULE, protocol.BATCH, "observe", value, {})


def test_counter_messages_count_their_amount_and_zero_the_service() -> None:
    receiver = ingest.Ingest(Limits())
    # A new service each run: the series at zero must be this run's.
    service = f"ing-counter-{uuid.uuid4().hex}"
    watched = {
        "buffer_full": (DROPPED, {"service": service, "reason": "buffer_full"}),
        "routes": ("openstack_api_metrics_route_overflow_total", {
            "service": service
        }),
        **_rejected(),
    }
    with _added(watched) as added:
        receiver.datagram(_dropped(service, "buffer_full"))
        receiver.datagram(_dropped(service, "buffer_full", None))
        receiver.datagram(protocol.encode_increment(
            "openstack_api_metrics_route_overflow_total", 5, {"service": service}
        ))
    assert _refusals(added) == {"buffer_full": 4, "routes": 5, "datagrams": 3}
    # Every drop reason and fold of the service is there, at zero.
    for reason in protocol.DROP_REASONS:
        assert prometheus_client.REGISTRY.get_sample_value(
            DROPPED, {"service": service, "reason": reason}
        ) is not None
    for label in ingest.OVERFLOW_LABELS:
        assert prometheus_client.REGISTRY.get_sample_value(
            OVERFLOWS, {"service": service, "label": label}
        ) == 0.0
    for name in ("action", "microversion"):
        assert prometheus_client.REGISTRY.get_sample_value(
            f"openstack_api_metrics_{name}_overflow_total", {"service": service}
        ) == 0.0


def test_a_counter_of_a_folded_service_counts_the_fold_in_requests() -> None:
    """A fold is counted in requests: an increment of 6 folded is 6."""
    receiver = ingest.Ingest(Limits(max_services=1))
    first, second = "ing-fold-a", "ing-fold-b"
    watched = {
        "first": (DROPPED, {"service": first, "reason": "exit"}),
        "second": (DROPPED, {"service": second, "reason": "exit"}),
        "overflow": (DROPPED, {"service": OVERFLOW, "reason": "exit"}),
        "folds": (OVERFLOWS, {"service": OVERFLOW, "label": "service"}),
    }
    with _added(watched) as added:
        receiver.datagram(_dropped(first, "exit", 2))
        receiver.datagram(_dropped(second, "exit", 6))
    assert added == {"first": 2, "second": 0, "overflow": 6, "folds": 6}


UPSTREAM_MODULE = ingest.UPSTREAM_MODULES[0].rsplit(".", 1)[-1]
REFUSED: dict[str, tuple[bytes, str]] = {
    "not json": (b"{not json", "malformed_json"),
    "not utf-8": (b'"\xff"', "malformed_json"),
    "not a message": (b"[]", "bad_message"),
    "batch counted": (
        _message(protocol.MODULE, protocol.BATCH, "inc", 1, {}), "bad_action"
    ),
    "module": (_message("nova", DROPPED, "inc", 1, {}), "unknown_module"),
    "histogram of ours": (
        _message(protocol.MODULE, "openstack_api_request_duration_seconds",
                 "observe", 1, {}),
        "unknown_metric",
    ),
    "not a metric upstream": (
        _message(UPSTREAM_MODULE, "LOG", "inc", 1, {}), "unknown_metric"
    ),
    "no such upstream": (
        _message(UPSTREAM_MODULE, "nothing_total", "inc", 1, {}), "unknown_metric"
    ),
    "counter observed": (
        _message(protocol.MODULE, DROPPED, "observe", 1,
                 {"service": "s", "reason": "exit"}),
        "bad_action",
    ),
    "labels": (
        _message(protocol.MODULE, DROPPED, "inc", 1, {"service": "s"}),
        "bad_labels",
    ),
    "label type": (
        _message(protocol.MODULE, DROPPED, "inc", 1,
                 {"service": 1, "reason": "exit"}),
        "label_type",
    ),
    "reason": (_dropped("s", "junk"), "unknown_reason"),
    "amount": (_dropped("s", "exit", -1), "negative"),
    "upstream labels": (
        _message(UPSTREAM_MODULE, RPC, "inc", 1, {"topic": "t"}), "bad_labels"
    ),
    "upstream label type": (
        _message(UPSTREAM_MODULE, RPC, "inc", 1, {**RPC_LABELS, "topic": []}),
        "label_type",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_each_refusal_counts_its_reason_once(case: str) -> None:
    datagram, reason = REFUSED[case]
    receiver = ingest.Ingest(Limits())
    with _added(_rejected()) as added:
        receiver.datagram(datagram)
    assert _refusals(added) == {reason: 1, "datagrams": 1}


def test_upstream_messages_land_in_its_metrics_within_the_caps() -> None:
    """None, booleans and numbers are shown with str(), as the upstream
    daemon shows them; labels past the byte bound or the series cap are
    refused."""
    receiver = ingest.Ingest(Limits(max_series_per_metric=1, max_label_bytes=8))
    shown = {key: str(value) for key, value in RPC_LABELS.items()}
    stop = {**RPC_LABELS, "method": "stop"}
    seconds = "rpc_server_processing_seconds"
    watched = {
        "started": (SHOWN + RPC, shown),
        "seconds": (f"{SHOWN}{seconds}_sum", {**shown, "method": "stop"}),
        "timed": (f"{SHOWN}{seconds}_count", {**shown, "method": "stop"}),
        **_rejected(),
    }
    with _added(watched) as added:
        receiver.datagram(_message(UPSTREAM_MODULE, RPC, "inc", None, RPC_LABELS))
        receiver.datagram(_message(UPSTREAM_MODULE, RPC, "inc", 2, RPC_LABELS))
        # Each metric has a cap of its own.
        receiver.datagram(_message(UPSTREAM_MODULE, seconds, "observe", 0.5, stop))
        # A second label set of a metric holding one already ...
        receiver.datagram(_message(UPSTREAM_MODULE, RPC, "inc", 1, stop))
        # ... and a label of nine bytes.
        receiver.datagram(_message(
            UPSTREAM_MODULE, seconds, "observe", 1, {**RPC_LABELS, "topic": "x" * 9}
        ))
    assert _refusals(added) == {
        "started": 3, "seconds": 0.5, "timed": 1, "series_limit": 1,
        "label_length": 1, "datagrams": 5,
    }


def test_a_datagram_longer_than_the_read_buffer_is_refused_unread() -> None:
    receiver = ingest.Ingest(Limits())
    with _added(_rejected()) as added:
        receiver.datagram(b" " * (protocol.UPSTREAM_READ_SIZE + 1))
    assert _refusals(added) == {"oversized": 1, "datagrams": 1}
    # One byte less is read: blank, so not JSON.
    with _added(_rejected()) as added:
        receiver.datagram(b" " * protocol.UPSTREAM_READ_SIZE)
    assert _refusals(added) == {"malformed_json": 1, "datagrams": 1}
    with _added(_rejected()) as added:
        receiver.oversized()
    assert _refusals(added) == {"oversized": 1, "datagrams": 1}


def test_a_fault_the_checks_missed_is_counted_and_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(message: Any) -> Any:
        raise RuntimeError("missed")

    monkeypatch.setattr(ingest.checks, "fields", broken)
    receiver = ingest.Ingest(Limits())
    datagram = json.dumps({"pad": "x" * 300}).encode()
    with _added(_rejected()) as added, caplog.at_level(logging.DEBUG, ingest.LOG.name):
        receiver.datagram(datagram)
    assert _refusals(added) == {"internal_error": 1, "datagrams": 1}
    error, debug = caplog.records
    assert (error.levelname, error.getMessage()) == (
        "ERROR", "Refused a datagram the checks missed: RuntimeError('missed')"
    )
    assert (debug.levelname, debug.getMessage()) == (
        "DEBUG", f"Datagram {datagram[:200]!r}"
    )
    assert debug.exc_info is not None and debug.exc_info[0] is RuntimeError


def test_reject_counts_one_unless_told() -> None:
    receiver = ingest.Ingest(Limits())
    with _added(_rejected()) as added:
        receiver.reject("bad_row")
        receiver.reject("negative", 4)
    assert _refusals(added) == {"bad_row": 1, "negative": 4}


ROW = ["ing-row", "GET", "/a", 200, 0.25, 10, 20, None]


def _request(service: str, route: str, status: str = "200") -> Where:
    return (COUNT, {"service": service, "method": "GET", "route": route,
                    "status": status})


def _rows(receiver: ingest.Ingest, rows: list[list[Any]]) -> None:
    receiver.batch({"v": protocol.ROWS_FORMAT_VERSION, "rows": rows})


def _exemplar(service: str, route: str, bound: str) -> Any:
    [exemplar] = [
        sample.exemplar
        for family in prometheus_client.REGISTRY.collect()
        for sample in family.samples
        if sample.name == "openstack_api_request_duration_seconds_bucket"
        and sample.labels == {"service": service, "method": "GET",
                              "route": route, "status": "200", "le": bound}
    ]
    return exemplar


def test_format_1_rows_fold_count_and_keep_their_request_id() -> None:
    receiver = ingest.Ingest(Limits(max_routes=1))
    service = "ing-row"
    watched = {
        "a": _request(service, "/a"),
        "folded": _request(service, OVERFLOW),
        "folds": (OVERFLOWS, {"service": service, "label": "route"}),
    }
    # A new id each run: the process's registry keeps the last exemplar.
    request_id = f"req-{uuid.uuid4().hex}"
    with _added(watched) as added:
        _rows(receiver, [
            [*ROW[:7], None, request_id],
            [*ROW[:2], "/b", *ROW[3:]],
            [*ROW[:2], "/c", *ROW[3:]],
        ])
    assert added == {"a": 1, "folded": 2, "folds": 2}
    exemplar = _exemplar(service, "/a", "0.25")
    assert (exemplar.labels, exemplar.value) == ({"request_id": request_id}, 0.25)


def test_format_1_rows_record_action_and_exception_of_a_new_key() -> None:
    receiver = ingest.Ingest(Limits())
    service = "ing-row-extra"
    route = {"service": service, "method": "POST", "route": "/x"}
    watched = {
        "action": ("openstack_api_action_duration_seconds_count", {
            **route, "action": "go", "microversion": "2.1", "status": "500"
        }),
        "exceptions": ("openstack_api_exceptions_total", {
            **route, "exception": "E"
        }),
        **_rejected(),
    }
    row = [service, "POST", "/x", 500, 0.1, 0, 0, "E", "go", "2.1"]
    with _added(watched) as added:
        _rows(receiver, [row, row, [*row[:7], "\ud800"], [*row[:2], ["/x"], *row[3:]]])
    assert _refusals(added) == {
        "action": 2, "exceptions": 2, "label_encoding": 1, "label_type": 1,
    }


def _folding(limits: Limits) -> tuple[ingest.Ingest, dict[str, Where]]:
    service = "ing-cols"
    watched = {
        "a": _request(service, "/a"),
        "b": _request(service, "/b"),
        "folded": _request(service, OVERFLOW),
        "folds": (OVERFLOWS, {"service": service, "label": "route"}),
        "dropped": (DROPPED, {"service": "", "reason": "malformed"}),
        **_rejected(),
    }
    return ingest.Ingest(limits), watched


KEYS = [["ing-cols", "GET", route, 200, None, None, None] for route in ("/a", "/b")]


@pytest.mark.parametrize(
    ("durations", "path"), [([1000, 2000, 3000], "bulk"), ([1000, -1, 3000], "rows")]
)
def test_format_2_keys_in_any_order_fold_count_in_requests(
    durations: list[int], path: str
) -> None:
    """Key 1's rows first, then key 0's: key 0 (route /a) is folded, and
    each of its rows counts as a fold, on either path."""
    receiver, watched = _folding(Limits(max_routes=1))
    with _added(watched) as added:
        receiver.datagram(_batch(KEYS, [1, 1, 0], durations))
    recorded = {"folded": 1, "folds": 1, "datagrams": 1}
    if path == "bulk":
        assert _refusals(added) == {"b": 2, **recorded}
    else:
        assert _refusals(added) == {
            "b": 1, "dropped": 1, "negative": 1, **recorded,
        }


def test_format_2_a_refused_key_loses_its_rows_only() -> None:
    receiver, watched = _folding(Limits())
    keys = [KEYS[0], [*KEYS[1][:3], "200", *KEYS[1][4:]],
            [*KEYS[0][:5], "go", None]]
    with _added(watched) as added:
        receiver.datagram(_batch(keys, [0, 1, 0, 2, 1], [1000] * 5))
    assert _refusals(added) == {
        "a": 2, "dropped": 3, "bad_status": 2, "label_type": 1, "datagrams": 1,
    }


def test_format_2_every_key_refused_loses_every_row() -> None:
    receiver, watched = _folding(Limits())
    keys = [[*key[:3], "200", *key[4:]] for key in KEYS]
    with _added(watched) as added:
        receiver.datagram(_batch(keys, [0, 1, 1], [1000] * 3))
    assert _refusals(added) == {"dropped": 3, "bad_status": 3, "datagrams": 1}


def test_format_2_rows_path_keeps_request_ids() -> None:
    receiver, _ = _folding(Limits())
    request_id = f"req-{uuid.uuid4().hex}"
    receiver.datagram(_batch(
        [KEYS[0]], [0, 0], [250_000, -1], r=[request_id, None]
    ))
    exemplar = _exemplar("ing-cols", "/a", "0.25")
    assert (exemplar.labels, exemplar.value) == ({"request_id": request_id}, 0.25)


PROJECT = "0123456789abcdef0123456789abcdef"
# Until its first window ends, a service's projects are counted as this.
OTHER = "__other__"


@pytest.mark.parametrize("durations", [[1500, 2500, 4000], [1500, 2500, -1]],
                         ids=["bulk", "rows"])
def test_format_2_projects_count_recorded_rows_under_the_admitted_service(
    durations: list[int],
) -> None:
    """The second service is folded into __overflow__ (max_services 1);
    a refused row counts for no project."""
    receiver = ingest.Ingest(Limits(max_services=1, top_projects=2))
    keys = [["ing-proj-a", "GET", "/p", 200, None, None, None],
            ["ing-proj-b", "GET", "/p", 200, None, None, None]]
    services = ("ing-proj-a", OVERFLOW)
    watched = {
        f"{service} {measure}": (f"openstack_api_project_{measure}_total", {
            "service": service, "project": OTHER
        })
        for service in services for measure in ("requests", "busy_seconds")
    }
    with _added(watched) as added:
        receiver.datagram(_batch(keys, [0, 1, 1], durations, p=[PROJECT] * 3))
    last = durations[2] > 0
    assert added == pytest.approx({
        "ing-proj-a requests": 1,
        "ing-proj-a busy_seconds": 0.0015,
        f"{OVERFLOW} requests": 1 + last,
        f"{OVERFLOW} busy_seconds": 0.0025 + last * 0.004,
    })


def test_the_batch_metric_counts_refusals_on_the_process_ingest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The upstream daemon hands the batch metric's value to the
    process's Ingest; a batch it cannot read is counted there."""
    monkeypatch.setattr(ingest, "_shared", None)
    with _added(_rejected()) as added:
        api.batch.labels().observe({"v": protocol.FORMAT_VERSION, "keys": 1})
    assert _refusals(added) == {"bad_batch": 1}


def test_the_process_ingest_is_made_once_and_replaced_by_configure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ingest, "_shared", None)
    first = ingest.shared()
    assert ingest.shared() is first
    assert first.limits == Limits()
    limits = Limits(max_services=2)
    configured = ingest.configure(limits)
    assert configured.limits is limits
    assert configured is not first
    assert ingest.shared() is configured
    assert configured.caps.limits is limits


def test_modules_by_the_name_datagrams_use(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert ingest.Ingest(Limits()).modules == {
        "openstack_api": api, "oslo_messaging": upstream,
    }
    monkeypatch.setattr(
        ingest, "UPSTREAM_MODULES", ("oslo_metrics.metrics.oslo_messaging",
                                     "no_such_package.metrics.rpc")
    )
    with caplog.at_level(logging.WARNING, ingest.LOG.name):
        modules = ingest.Ingest(Limits()).modules
    assert modules == {"openstack_api": api, "oslo_messaging": upstream}
    assert [record.getMessage() for record in caplog.records] == [
        "Metrics of no_such_package.metrics.rpc are not served: No module "
        "named 'no_such_package'"
    ]


def test_project_attribution_is_set_from_the_limits() -> None:
    receiver = ingest.Ingest(Limits(top_projects=3, project_window=60.0))
    assert receiver.projects.k == 3
    assert receiver.projects.window == 60.0
    assert receiver.projects._metrics == (
        api.openstack_api_project_requests, api.openstack_api_project_busy_seconds
    )

