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

"""From a datagram to the metrics: check, cap, record.

Anything a datagram carries is checked (collector/checks.py) before it
reaches a cap or a metric: a value prometheus_client would take but could
not expose (a lone surrogate), or would expose as nonsense (NaN, a negative
duration), is refused and counted in
``oslo_metrics_collector_rejected_total{reason}``.  What passes is capped
(collector/caps.py): free-form labels per service across every sender,
label sets per metric, label values in bytes.  Then it is recorded
(collector/record.py).  This module keeps the collector's own account of
all three: refusals, requests dropped, requests folded.
"""

from __future__ import annotations

import collections
import importlib
import json
import logging
from types import ModuleType
from typing import Any

from prometheus_client.metrics import MetricWrapperBase

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector import checks
from oslo_metrics_middleware.collector import histograms
from oslo_metrics_middleware.collector import openstack_api as api
from oslo_metrics_middleware.collector import projects
from oslo_metrics_middleware.collector import record
from oslo_metrics_middleware.collector.caps import OVERFLOW_LABELS
from oslo_metrics_middleware.collector.caps import Caps
from oslo_metrics_middleware.collector.caps import Folds
from oslo_metrics_middleware.collector.caps import Limits
from oslo_metrics_middleware.collector.checks import REASONS
from oslo_metrics_middleware.collector.checks import Rejected

__all__ = ["REASONS", "Ingest", "Limits", "Rejected", "configure", "shared"]

LOG = logging.getLogger(__name__)

# Modules of the upstream daemon, by the name datagrams use for them.
UPSTREAM_MODULES = ("oslo_metrics.metrics.oslo_messaging",)
DROPPED = "openstack_api_metrics_dropped_samples_total"
# The counters every service seen is given at zero, so that a panel of
# them reads 0 before the first event.
_PER_SERVICE = (
    api.openstack_api_metrics_route_overflow,
    api.openstack_api_metrics_action_overflow,
    api.openstack_api_metrics_microversion_overflow,
)
_NO_FOLDS: Folds = []  # of a row seen before; never appended to
# A request row's labels, the row without its amounts.
Key = tuple[Any, ...]


class Ingest:
    """Records datagrams into the metrics, within ``limits``.

    One thread feeds it; scrapes read the metrics concurrently, which
    prometheus_client's own locks allow.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.caps = Caps(limits)
        self.children = record.Children()
        self.modules = _load_modules()
        self.projects = projects.Projects(
            api.openstack_api_project_requests,
            api.openstack_api_project_busy_seconds,
            limits.top_projects,
            limits.project_window,
        )
        self._rejected = {
            reason: api.collector_rejected_total.labels(reason) for reason in REASONS
        }
        # The overflow children of each service seen (at most max_services
        # and __overflow__), by service and label: found without the lock
        # of labels() for every folded row.
        self._overflow: dict[tuple[str, str], Any] = {}
        self._seen: set[str] = set()

    # -- datagrams and messages ---------------------------------------------

    def datagram(self, data: bytes) -> None:
        """Record one datagram read from the socket."""
        if len(data) > protocol.UPSTREAM_READ_SIZE:
            # No sender of either daemon writes more; parsing it would only
            # cost time.
            self.oversized()
            return
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
        module, name, action, value, labels = checks.fields(message)
        if module == protocol.MODULE and name == protocol.BATCH:
            if action != "observe":
                raise Rejected("bad_action")
            self.batch(value)
            return
        metric = self._metric(module, name)
        if action == "inc" and value is None:
            value = 1
        amount = checks.amount(value)
        if not hasattr(metric, action):
            raise Rejected("bad_action")
        if module == protocol.MODULE:
            child = self._counter(metric, name, labels, amount)
        else:
            child = self._upstream(metric, labels)
        getattr(child, action)(amount)

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

    def _counter(
        self,
        metric: MetricWrapperBase,
        name: str,
        labels: dict[str, Any],
        amount: float,
    ) -> Any:
        """The child of one of the filters' counters.

        Their label sets need no cap of their own: every one has a service
        (capped) and at most a reason from a closed set.
        """
        checked = {key: checks.label(item) for key, item in labels.items()}
        if set(checked) != set(metric._labelnames):
            raise Rejected("bad_labels")
        if name == DROPPED and checked["reason"] not in protocol.DROP_REASONS:
            raise Rejected("unknown_reason")
        folds: Folds = []
        checked["service"] = self._service(checked["service"], folds)
        self._count_folds(folds, amount)
        return metric.labels(*(checked[key] for key in metric._labelnames))

    def _upstream(self, metric: MetricWrapperBase, labels: dict[str, Any]) -> Any:
        """The child of an upstream metric, within max_series_per_metric.

        Upstream senders pass None, booleans and numbers as label values
        (oslo.messaging's timeout, fanout); prometheus_client shows them
        with str(), as the upstream daemon does.
        """
        checked = {
            key: checks.label(checks.scalar(item)) for key, item in labels.items()
        }
        if set(checked) != set(metric._labelnames):
            raise Rejected("bad_labels")
        if not all(map(self.caps.fits, checked.values())):
            raise Rejected("label_length")
        series = tuple(checked[key] for key in metric._labelnames)
        if not self.caps.message(metric._name, series):
            raise Rejected("series_limit")
        return metric.labels(*series)

    # -- request rows -------------------------------------------------------

    def batch(self, value: Any) -> None:
        """Record the rows of one batch; rows that fail are counted."""
        try:
            if isinstance(value, dict) and value.get("v") in protocol.BATCH_FORMATS:
                keys, indexes, columns = checks.columns(value)
                self._columns(keys, indexes, columns, self._projects(value, indexes))
                return
            rows = checks.rows(value)
        except Rejected as rejected:
            _dropped(rejected.rows)
            raise
        api.collector_rows_total.inc(len(rows))
        for row in rows:
            try:
                self.row(row)
            except Rejected as rejected:
                self.reject(rejected.reason)
                _dropped(1)

    def row(self, row: Any) -> None:
        """Record one format 1 row (see protocol.ROW_FIELDS)."""
        if type(row) is not list:
            raise Rejected("bad_row")
        exemplar = None
        if len(row) == checks.BASE + 1 or len(row) == checks.LABELLED + 1:
            exemplar = checks.exemplar(row.pop())
        if len(row) != checks.BASE and len(row) != checks.LABELLED:
            raise Rejected("bad_row")
        duration = checks.amount(row[4])
        request_bytes = checks.amount(row[5])
        response_bytes = checks.amount(row[6])
        targets, folds = self._targets(
            (row[0], row[1], row[2], row[3]), tuple(row[checks.BASE :]), row[7]
        )
        record.observe(targets, duration, request_bytes, response_bytes, exemplar)
        self._count_folds(folds, 1)

    def _projects(self, value: dict[str, Any], indexes: bytes) -> list[Any] | None:
        """The project column of a format 2 batch; one that is not a value
        per row is refused alone, and its rows recorded without it."""
        try:
            return protocol.projects_of(value, len(indexes))
        except protocol.MalformedBatchError:
            self.reject("bad_projects")
            return None

    def _columns(
        self,
        keys: list[list[Any]],
        indexes: bytes,
        columns: list[list[Any]],
        sent_projects: list[Any] | None = None,
    ) -> None:
        """Record a format 2 or 3 batch: each key used checked once, in the order
        of its first row, then its rows."""
        api.collector_rows_total.inc(len(indexes))
        # A key takes room under the caps only with a row that is recorded:
        # in bulk every row is, otherwise keys are looked at row by row.
        found: dict[int, tuple[record.Targets, Folds] | str] = {}
        if histograms.USABLE and checks.in_bulk(columns):
            used = list(dict.fromkeys(indexes))
            resolved = [self._key_targets(keys[number]) for number in used]
            recorded = [each for each in resolved if not isinstance(each, str)]
            if len(recorded) == len(resolved):
                self._record_in_bulk(recorded, used, indexes, columns)
                if sent_projects is not None:
                    self._attribute(keys, used, indexes, columns[0], sent_projects)
                return
            found.update(zip(used, resolved, strict=True))
        # The rows recorded, for their projects: index, microseconds, id.
        attributed: list[tuple[int, int, Any]] = []
        projects_sent = sent_projects or [None] * len(indexes)
        rows = zip(indexes, *columns, projects_sent, strict=True)
        for row in rows:
            number, duration, request_bytes, response_bytes, request_id, sent = row
            try:
                amounts = (
                    checks.amount(duration) / protocol.MICROSECONDS,
                    checks.amount(request_bytes),
                    checks.amount(response_bytes),
                )
                target = found.get(number)
                if target is None:
                    target = found[number] = self._key_targets(keys[number])
                if isinstance(target, str):
                    raise Rejected(target)
                targets, folds = target
                record.observe(targets, *amounts, checks.exemplar(request_id))
                self._count_folds(folds, 1)
                if sent is not None:
                    micros = round(amounts[0] * protocol.MICROSECONDS)
                    attributed.append((number, micros, sent))
            except Rejected as rejected:
                self.reject(rejected.reason)
                _dropped(1)
        if attributed:
            numbers = bytes(number for number, _, _ in attributed)
            self._attribute(
                keys,
                list(dict.fromkeys(numbers)),
                numbers,
                [micros for _, micros, _ in attributed],
                [project for _, _, project in attributed],
            )

    def _attribute(
        self,
        keys: list[list[Any]],
        used: list[int],
        indexes: bytes,
        durations: list[int],
        sent_projects: list[Any],
    ) -> None:
        """Count recorded rows by project, under their admitted service."""
        services = {number: self.caps.service(keys[number][0], []) for number in used}
        grouped = projects.group(services, indexes, durations, sent_projects)
        for service, rows in grouped.items():
            self.projects.record(service, rows)

    def _record_in_bulk(
        self,
        resolved: list[tuple[record.Targets, Folds]],
        used: list[int],
        indexes: bytes,
        columns: list[list[Any]],
    ) -> None:
        # Indexes into the keys used, not into every key sent; a filter
        # numbers its keys in the order of their first row, so they agree.
        local = indexes
        if used != list(range(len(used))):
            position = {number: place for place, number in enumerate(used)}
            local = bytes(map(position.__getitem__, indexes))
        record.observe_all([targets for targets, _ in resolved], local, *columns)
        if any(folds for _, folds in resolved):
            rows = collections.Counter(local)
            for place, (_, folds) in enumerate(resolved):
                self._count_folds(folds, rows[place])

    def _key_targets(self, key: list[Any]) -> tuple[record.Targets, Folds] | str:
        """The targets of a format 2 key, or the reason it is refused."""
        service, method, route, status, exception, action, version = key
        extra = () if action is None and version is None else (action, version)
        try:
            return self._targets((service, method, route, status), extra, exception)
        except Rejected as rejected:
            return rejected.reason

    def _targets(
        self, key: Key, extra: tuple[Any, ...], exception: Any
    ) -> tuple[record.Targets, Folds]:
        """The series of a row's labels and the folds that led there;
        Rejected if they cannot be labels."""
        if type(key[3]) is not int:
            raise Rejected("bad_status")
        try:
            found = self.children.find(key, extra, exception)
        except TypeError:  # a list or dict where a label belongs
            raise Rejected("label_type") from None
        if found is not None:
            return found, _NO_FOLDS
        return self._new_row(key, extra, exception)

    def _new_row(
        self, key: Key, extra: tuple[Any, ...], exception: Any
    ) -> tuple[record.Targets, Folds]:
        """The children of a row not seen before: checked, then capped.

        Every check runs before any cap admits a value, so a refused row
        takes no room under the caps.
        """
        service, method, route, status = key
        checks.status(status)
        for value in (service, method, route, *extra):
            checks.label(value)
        if exception is not None:
            checks.label(exception)
        folds: Folds = []
        admitted = self._service(service, folds)
        sets = self.caps.request(
            admitted, method, route, status, extra, exception, folds
        )
        return self.children.of(sets, key, extra, exception), folds

    # -- the collector's own account ----------------------------------------

    def _service(self, value: str, folds: Folds) -> str:
        service = self.caps.service(value, folds)
        if service not in self._seen:
            self._seen.add(service)
            self._zero(service)
        return service

    def _zero(self, service: str) -> None:
        """Give a service its drop and overflow counters, at zero."""
        for reason in protocol.DROP_REASONS:
            api.openstack_api_metrics_dropped_samples.labels(service, reason)
        for label in OVERFLOW_LABELS:
            child = api.collector_overflow_total.labels(service, label)
            self._overflow[service, label] = child
        for counter in _PER_SERVICE:
            counter.labels(service)

    def _count_folds(self, folds: Folds, requests: float) -> None:
        # A fold's service was seen first: service() folds into __overflow__.
        for fold in folds:
            self._overflow[fold].inc(requests)


def _dropped(rows: int) -> None:
    """Refused request rows, in the transport's account of lost requests.

    The series appears with the first refusal, so a report of dropped
    samples stays empty while nothing was dropped.
    """
    if rows:
        api.openstack_api_metrics_dropped_samples.labels("", "malformed").inc(rows)


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


def _receive(value: Any) -> None:
    """The rows of the ``batch`` metric, under either daemon."""
    receiver = shared()
    try:
        receiver.batch(value)
    except Rejected as rejected:
        receiver.reject(rejected.reason)


api.batch.receiver = _receive
