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

"""Checks, caps and recording of what arrives on the collector's socket.

Anything a datagram carries is checked before it reaches a metric: a value
prometheus_client would take but could not expose (a lone surrogate), or
would expose as nonsense (NaN, a negative duration, a 50 kB label), is
refused and counted in ``oslo_metrics_collector_rejected_total{reason}``.
Free-form labels are capped per service across every sender, so the
number of series stays bounded however many processes feed the collector.
"""

from __future__ import annotations

import collections
import dataclasses
import importlib
import json
import logging
import math
from types import ModuleType
from typing import Any

from prometheus_client.metrics import MetricWrapperBase

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector import histograms
from oslo_metrics_middleware.collector import openstack_api as api
from oslo_metrics_middleware.routing.labels import MAX_LABEL_LENGTH
from oslo_metrics_middleware.routing.labels import OVERFLOW
from oslo_metrics_middleware.routing.labels import LabelCap

LOG = logging.getLogger(__name__)

# Every reason a row, message or datagram is refused; all are exposed from
# the start so that a rate() over them has a series to work on.
REASONS = (
    "malformed_json",
    "oversized",
    "bad_message",
    "unknown_module",
    "unknown_metric",
    "bad_action",
    "bad_labels",
    "bad_batch",
    "bad_row",
    "label_type",
    "label_encoding",
    "label_length",
    "bad_status",
    "bad_number",
    "not_finite",
    "negative",
    "out_of_range",
    "series_limit",
    "internal_error",
)
# Far beyond any real duration or body size, still exact as a float sum.
MAX_AMOUNT = 1e15
ACTIONS = ("inc", "observe")
# Request rows carry HTTP statuses; anything else is not a response.
STATUS_RANGE = range(100, 600)

_BASE = len(protocol.ROW_FIELDS)
_LABELLED = _BASE + len(protocol.EXTRA_FIELDS)
# OpenMetrics allows 128 characters of exemplar labels, name included.
_MAX_REQUEST_ID = 128 - len(protocol.REQUEST_ID_FIELD)


def _exemplar(request_id: Any) -> dict[str, str] | None:
    """A request id as an exemplar, if it can be one."""
    if type(request_id) is str and 0 < len(request_id) <= _MAX_REQUEST_ID:
        return {protocol.REQUEST_ID_FIELD: request_id}
    return None


# The series a row is recorded in: duration, request and response size
# children, the action child or None, the exception child or None.
Targets = tuple[tuple[Any, Any, Any], Any, Any]
# Modules of the upstream daemon, by the name datagrams use for them.
UPSTREAM_MODULES = ("oslo_metrics.metrics.oslo_messaging",)


class Rejected(Exception):  # noqa: N818 (a verdict, not a fault)
    """What arrived cannot be recorded; ``reason`` is one of REASONS."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Limits:
    """The collector-wide caps (see collector/options.py for their meaning)."""

    max_services: int = 100
    max_routes: int = 1000
    max_label_values: int = 100
    max_series_per_metric: int = 10_000
    max_request_series: int = 10_000
    max_label_length: int = MAX_LABEL_LENGTH


class _ServiceCaps:
    """The capped labels of one service."""

    __slots__ = ("action", "exception", "method", "microversion", "route")

    def __init__(self, limits: Limits) -> None:
        reserved = (OVERFLOW,)
        self.route = LabelCap(limits.max_routes, reserved)
        self.method = LabelCap(limits.max_label_values, reserved)
        self.exception = LabelCap(limits.max_label_values, reserved)
        self.action = LabelCap(limits.max_label_values, reserved)
        self.microversion = LabelCap(limits.max_label_values, reserved)


def _reject_amount(value: Any) -> Rejected:
    if type(value) is not float and type(value) is not int:
        return Rejected("bad_number")
    if type(value) is float and not math.isfinite(value):
        return Rejected("not_finite")
    if value < 0:
        return Rejected("negative")
    return Rejected("out_of_range")


def _amount(value: Any) -> float:
    """``value`` if it is a finite, non-negative number, else Rejected."""
    if (type(value) is float or type(value) is int) and 0 <= value <= MAX_AMOUNT:
        return value
    raise _reject_amount(value)


class Ingest:
    """Records datagrams into the metrics, within ``limits``.

    One thread feeds it; scrapes read the metrics concurrently, which
    prometheus_client's own locks allow.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._services = LabelCap(limits.max_services, (OVERFLOW,))
        self._caps: dict[str, _ServiceCaps] = {}
        # Children by the labels as they arrived, for rows whose labels were
        # all admitted unchanged: the common case costs one dict lookup.
        self._known: dict[tuple[Any, ...], tuple[Any, Any, Any]] = {}
        self._known_actions: dict[tuple[Any, ...], Any] = {}
        self._known_exceptions: dict[tuple[Any, ...], Any] = {}
        # Label sets each metric holds, by metric name.
        self._series: dict[str, set[tuple[Any, ...]]] = {}
        self.modules = _load_modules()
        self._rejected = {
            reason: api.collector_rejected_total.labels(reason) for reason in REASONS
        }

    # -- datagrams ----------------------------------------------------------

    def datagram(self, data: bytes) -> None:
        """Record one datagram read from the socket."""
        try:
            self._message(data)
        except Rejected as rejected:
            self.reject(rejected.reason)
        except Exception as exc:  # a datagram must never stop the collector
            LOG.error("Refused a datagram the checks missed: %r", exc)
            LOG.debug("Datagram %r", data[:200], exc_info=True)
            self.reject("internal_error")
        finally:
            # Counted once recorded: a scrape (on another thread) that sees
            # the count also sees every row of the datagram.
            api.collector_datagrams_total.inc()

    def oversized(self) -> None:
        """A datagram longer than the read buffer: refused unread."""
        api.collector_datagrams_total.inc()
        self.reject("oversized")

    def reject(self, reason: str, count: int = 1) -> None:
        self._rejected[reason].inc(count)

    def _message(self, data: bytes) -> None:
        try:
            message = json.loads(data.decode("utf-8"))
        except (ValueError, RecursionError):
            raise Rejected("malformed_json") from None
        module, name, action, value, labels = _fields(message)
        if module == protocol.MODULE and name == protocol.BATCH:
            if action != "observe":
                raise Rejected("bad_action")
            self.batch(value)
            return
        metric = self._metric(module, name)
        self._apply(metric, module, action, value, labels)

    def _metric(self, module: str, name: str) -> MetricWrapperBase:
        source = self.modules.get(module)
        if source is None:
            raise Rejected("unknown_module")
        if module == protocol.MODULE and name not in api.COUNTERS_SENT:
            raise Rejected("unknown_metric")
        metric = getattr(source, name, None)
        if not isinstance(metric, MetricWrapperBase):
            raise Rejected("unknown_metric")
        return metric

    def _apply(
        self,
        metric: MetricWrapperBase,
        module: str,
        action: str,
        value: Any,
        labels: dict[str, Any],
    ) -> None:
        """One oslo.metrics action on one labelled series."""
        if action == "inc" and value is None:
            value = 1
        amount = _amount(value)
        # Upstream senders pass None, booleans and numbers as label values
        # (oslo.messaging's timeout, fanout); prometheus_client shows them
        # with str(), as the upstream daemon does.
        strict = module == protocol.MODULE
        checked = {
            key: self._label(item if strict else _scalar(item))
            for key, item in labels.items()
        }
        if strict and "service" in checked:
            checked["service"] = self._service(checked["service"])
        if set(checked) != set(metric._labelnames):
            raise Rejected("bad_labels")
        series = tuple(checked[key] for key in metric._labelnames)
        if not self._holds(metric, series, self.limits.max_series_per_metric):
            raise Rejected("series_limit")
        child = metric.labels(*series)
        method = getattr(child, action, None)
        if method is None:
            raise Rejected("bad_action")
        method(amount)

    # -- request rows -------------------------------------------------------

    def batch(self, value: Any) -> None:
        """Record the rows of one batch; rows that fail are counted."""
        try:
            if isinstance(value, dict) and value.get("v") == protocol.FORMAT_VERSION:
                self._columns(*protocol.columns_of(value))
                return
            rows = protocol.rows_of(value)
        except protocol.MalformedBatchError:
            _dropped(_claimed_rows(value))
            raise Rejected("bad_batch") from None
        api.collector_rows_total.inc(len(rows))
        for row in rows:
            try:
                self.row(row)
            except Rejected as rejected:
                self.reject(rejected.reason)
                _dropped(1)

    def _columns(
        self, keys: list[list[Any]], indexes: bytes, columns: list[list[Any]]
    ) -> None:
        """Record a format 2 batch: each key checked once, then its rows."""
        api.collector_rows_total.inc(len(indexes))
        targets = [self._key_targets(key) for key in keys]
        if _in_bulk(targets, columns):
            _record_in_bulk(targets, indexes, *columns)  # type: ignore[arg-type]
            return
        rows = zip(indexes, *columns, strict=True)
        for number, duration, request_bytes, response_bytes, request_id in rows:
            target = targets[number]
            try:
                if type(target) is Rejected:
                    raise target
                self._observe(
                    target,
                    _amount(duration) / protocol.MICROSECONDS,
                    _amount(request_bytes),
                    _amount(response_bytes),
                    _exemplar(request_id),
                )
            except Rejected as rejected:
                self.reject(rejected.reason)
                _dropped(1)

    def _key_targets(self, key: list[Any]) -> Targets | Rejected:
        service, method, route, status, exception, action, version = key
        extra = () if action is None and version is None else (action, version)
        try:
            return self._targets((service, method, route, status), extra, exception)
        except Rejected as rejected:
            return rejected

    def row(self, row: Any) -> None:
        """Record one format 1 row (see protocol.ROW_FIELDS)."""
        if type(row) is not list:
            raise Rejected("bad_row")
        exemplar = None
        if len(row) == _BASE + 1 or len(row) == _LABELLED + 1:
            exemplar = _exemplar(row.pop())
        if len(row) != _BASE and len(row) != _LABELLED:
            raise Rejected("bad_row")
        duration = _amount(row[4])
        request_bytes = _amount(row[5])
        response_bytes = _amount(row[6])
        targets = self._targets(
            (row[0], row[1], row[2], row[3]), tuple(row[_BASE:]), row[7]
        )
        self._observe(targets, duration, request_bytes, response_bytes, exemplar)

    def _targets(
        self, key: tuple[Any, ...], extra: tuple[Any, ...], exception: Any
    ) -> Targets:
        """The series of a row's labels; Rejected if they cannot be labels."""
        if type(key[3]) is not int:
            raise Rejected("bad_status")
        try:
            children = self._known.get(key)
            labelled = self._known_actions.get(key + extra) if extra else None
            failed = None
            if exception is not None:
                failed = self._known_exceptions.get((*key, exception))
        except TypeError:  # a list or dict where a label belongs
            raise Rejected("label_type") from None
        if (
            children is None
            or (extra and labelled is None)
            or (exception is not None and failed is None)
        ):
            return self._new_row(key, extra, exception)
        return children, labelled, failed

    @staticmethod
    def _observe(
        targets: Targets,
        duration: float,
        request_bytes: float,
        response_bytes: float,
        exemplar: dict[str, str] | None,
    ) -> None:
        children, labelled, failed = targets
        children[0].observe(duration, exemplar)
        children[1].observe(request_bytes)
        children[2].observe(response_bytes)
        if labelled is not None:
            labelled.observe(duration)
        if failed is not None:
            failed.inc()

    def _new_row(
        self, key: tuple[Any, ...], extra: tuple[Any, ...], exception: Any
    ) -> Targets:
        """The children of a row not seen before: checked, then capped.

        Every check runs before any cap admits a value, so a refused row
        takes no room under the caps.
        """
        service, method, route, status = key
        if status not in STATUS_RANGE:
            raise Rejected("bad_status")
        for value in (service, method, route, *extra):
            self._label(value)
        if exception is not None:
            self._label(exception)
        service = self._service(service)
        caps = self._caps_of(service)
        method = self._fold(service, "method", caps.method, method)
        route = self._fold(service, "route", caps.route, route)
        status_label = str(status)
        durations = api.openstack_api_request_duration_seconds
        if not self._holds_request(durations, (service, method, route, status_label)):
            # Past the cap: one label set per service and status class,
            # which status=~"5.." still matches.
            method = route = OVERFLOW
            status_label = f"{status // 100}xx"
            api.collector_overflow_total.labels(service, "series").inc()
        children = (
            durations.labels(service, method, route, status_label),
            api.openstack_api_request_size_bytes.labels(service, method, route),
            api.openstack_api_response_size_bytes.labels(service, method, route),
        )
        if (service, method, route, status) == key:
            self._known[key] = children
        labelled = None
        if extra:
            action = self._fold(service, "action", caps.action, extra[0])
            version = self._fold(service, "microversion", caps.microversion, extra[1])
            labelled_key = (service, method, route, action, version, status_label)
            by_action = api.openstack_api_action_duration_seconds
            if not self._holds_request(by_action, labelled_key):
                action = version = OVERFLOW
            labelled = by_action.labels(
                service, method, route, action, version, status_label
            )
            if (service, method, route, status, action, version) == key + extra:
                self._known_actions[key + extra] = labelled
        failed = None
        if exception is not None:
            name = self._fold(service, "exception", caps.exception, exception)
            exceptions = api.openstack_api_exceptions
            if not self._holds_request(exceptions, (service, method, route, name)):
                name = OVERFLOW
            failed = exceptions.labels(service, method, route, name)
            if (service, method, route, status, name) == (*key, exception):
                self._known_exceptions[(*key, exception)] = failed
        return children, labelled, failed

    def _holds_request(
        self, metric: MetricWrapperBase, series: tuple[Any, ...]
    ) -> bool:
        """Whether a request metric holds ``series``, taking it if there is
        room under max_request_series."""
        return self._holds(metric, series, self.limits.max_request_series)

    def _holds(
        self, metric: MetricWrapperBase, series: tuple[Any, ...], cap: int
    ) -> bool:
        """Whether ``metric`` holds ``series``, taking it if it holds fewer
        than ``cap`` label sets."""
        held = self._series.setdefault(metric._name, set())
        if series in held:
            return True
        if len(held) >= cap:
            return False
        held.add(series)
        return True

    # -- labels -------------------------------------------------------------

    def _label(self, value: Any) -> str:
        """``value`` if it can be a label value, else Rejected."""
        if type(value) is not str:
            raise Rejected("label_type")
        if len(value) > self.limits.max_label_length:
            raise Rejected("label_length")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Rejected("label_encoding") from None
        return value

    def _service(self, service: str) -> str:
        return self._fold(OVERFLOW, "service", self._services, service)

    def _caps_of(self, service: str) -> _ServiceCaps:
        caps = self._caps.get(service)
        if caps is None:
            caps = self._caps[service] = _ServiceCaps(self.limits)
        return caps

    def _fold(self, service: str, label: str, cap: LabelCap, value: str) -> str:
        admitted = cap.admit(value)
        if admitted != value:
            api.collector_overflow_total.labels(service, label).inc()
        return admitted


def _in_bulk(targets: list[Targets | Rejected], columns: list[list[Any]]) -> bool:
    """Whether a format 2 batch can be recorded in bulk: every key
    admitted, every amount a plain integer in range, every request id a
    string that fits an exemplar.  Anything else goes row by row, so each
    bad row is refused and counted on its own."""
    *amounts, request_ids = columns
    if not histograms.USABLE or any(type(t) is Rejected for t in targets):
        return False
    for column in amounts:
        if column and not (
            set(map(type, column)) == {int}
            and min(column) >= 0
            and max(column) <= MAX_AMOUNT
        ):
            return False
    ids = list(filter(None, request_ids))
    return set(map(type, ids)) <= {str} and (
        max(map(len, ids), default=0) <= _MAX_REQUEST_ID
    )


# Bucket bounds in the units of format 2 columns.
_DURATION_BOUNDS = histograms.bounds(api.DURATION_BUCKETS, protocol.MICROSECONDS)
_SIZE_BOUNDS = histograms.bounds(api.SIZE_BUCKETS)


def _record_in_bulk(
    targets: list[Targets],
    indexes: bytes,
    durations: list[int],
    request_bytes: list[int],
    response_bytes: list[int],
    request_ids: list[str | None],
) -> None:
    """Record checked rows, each touched bucket and sum added to once."""
    # The action histogram observes the same durations as the main one.
    timed = [
        (children[0], labelled) if labelled else children[:1]
        for children, labelled, _ in targets
    ]
    buckets = histograms.observe_all(
        timed, indexes, durations, _DURATION_BOUNDS, protocol.MICROSECONDS
    )
    for size, column in ((1, request_bytes), (2, response_bytes)):
        sized = [children[size : size + 1] for children, _, _ in targets]
        histograms.observe_all(sized, indexes, column, _SIZE_BOUNDS)
    if any(request_ids):
        histograms.set_exemplars(
            [children[0] for children, _, _ in targets],
            indexes,
            buckets,
            durations,
            request_ids,
            protocol.REQUEST_ID_FIELD,
            protocol.MICROSECONDS,
        )
    for key, count in collections.Counter(indexes).items():
        failed = targets[key][2]
        if failed is not None:
            failed.inc(count)


def _dropped(rows: int) -> None:
    """Refused request rows, in the transport's account of lost requests.

    The series appears with the first refusal, so a report of dropped
    samples stays empty while nothing was dropped.
    """
    if rows:
        api.openstack_api_metrics_dropped_samples.labels("", "malformed").inc(rows)


def _claimed_rows(value: Any) -> int:
    """How many rows a batch that cannot be read says it carries."""
    if isinstance(value, dict):
        for column in ("rows", "d"):
            if isinstance(value.get(column), list):
                return len(value[column])
    return 0


def _fields(message: Any) -> tuple[str, str, str, Any, dict[str, Any]]:
    """The parts of an oslo.metrics message, or Rejected."""
    if not isinstance(message, dict):
        raise Rejected("bad_message")
    module = message.get("module")
    name = message.get("name")
    action = message.get("action")
    labels = message.get("labels")
    if not (
        isinstance(module, str)
        and isinstance(name, str)
        and isinstance(action, dict)
        and isinstance(labels, dict)
        and "value" in action
    ):
        raise Rejected("bad_message")
    verb = action.get("action")
    if verb not in ACTIONS:
        raise Rejected("bad_action")
    return module, name, verb, action["value"], labels


def _scalar(value: Any) -> str:
    if value is None or isinstance(value, (str, bool, int, float)):
        return str(value)
    raise Rejected("label_type")


def _load_modules() -> dict[str, ModuleType]:
    """Metric modules by the name datagrams use: the last dotted part."""
    modules = {protocol.MODULE: api}
    for path in UPSTREAM_MODULES:
        try:
            modules[path.rsplit(".", 1)[-1]] = importlib.import_module(path)
        except ImportError as exc:
            LOG.warning("Metrics of %s are not served: %s", path, exc)
    return modules


_shared: Ingest | None = None


def shared() -> Ingest:
    """The process's Ingest; default limits until configure() is called."""
    global _shared
    if _shared is None:
        _shared = Ingest(Limits())
    return _shared


def configure(limits: Limits) -> Ingest:
    """Replace the process's Ingest with one using ``limits``."""
    global _shared
    _shared = Ingest(limits)
    return _shared
