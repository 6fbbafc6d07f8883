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

"""The collector-wide caps: which label values and label sets are kept.

Only checked values reach a cap, so refused input takes no room.  A value
or label set past its cap is folded into ``__overflow__``, and each fold is
reported to the caller as ``(service, label)`` so that it can count the
requests folded (``oslo_metrics_collector_overflow_total``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from oslo_metrics_middleware.routing.labels import OVERFLOW
from oslo_metrics_middleware.routing.labels import LabelCap

# Every label a cap can fold, as oslo_metrics_collector_overflow_total
# names it; "series" is max_request_series, "bytes" max_request_label_bytes.
OVERFLOW_LABELS = (
    "service",
    "method",
    "route",
    "exception",
    "action",
    "microversion",
    "series",
    "bytes",
)
# The fallback label sets of a duration histogram: one per status class.
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
# The longest route template of the OpenStack services tested is under
# 100 bytes; this leaves room for longer ones and a deployment's prefix.
MAX_LABEL_BYTES = 256
# With worst-case labels, a page at these two caps costs about 1.2 s of
# CPU to scrape (bench_collector.py worst); doubling them doubles it.
MAX_REQUEST_SERIES = 5000
# 64 bytes a label set on average at MAX_REQUEST_SERIES: a duration label
# set of nova's templates holds about 40 (service, method, route; 27 bytes
# the median route, 52 the longest).
MAX_REQUEST_LABEL_BYTES = 320 * 1024

# What a row's labels fold to, for oslo_metrics_collector_overflow_total.
Folds = list[tuple[str, str]]


@dataclasses.dataclass(frozen=True)
class Limits:
    """The collector-wide caps (see collector/options.py for their meaning)."""

    max_services: int = 100
    max_routes: int = 1000
    max_label_values: int = 100
    max_series_per_metric: int = 10_000
    max_request_series: int = MAX_REQUEST_SERIES
    max_label_bytes: int = MAX_LABEL_BYTES
    # Not caps of their own: bounds of collector/projects.py's series.
    top_projects: int = 10
    project_window: float = 300.0
    max_request_label_bytes: int = MAX_REQUEST_LABEL_BYTES


class SeriesCap:
    """At most ``limit`` label sets of one metric."""

    __slots__ = ("_limit", "held")

    def __init__(self, limit: int) -> None:
        self.held: set[tuple[Any, ...]] = set()
        self._limit = limit

    def admit(self, labels: tuple[Any, ...]) -> bool:
        """Whether ``labels`` is held, taking it if there is room."""
        if labels in self.held:
            return True
        if len(self.held) >= self._limit:
            return False
        self.held.add(labels)
        return True


class RequestSeries:
    """At most ``limit`` label sets of one request metric, holding at most
    ``budget`` bytes of free label values, the ``__overflow__`` ones
    included.

    The free labels are the first ``free`` of a label set: all but the
    status, whose values are few and short.  A request past either cap is
    recorded in a fallback label set: its service's, one per status class
    (``classes`` of them), or, for a service that came when there was no
    room left, __overflow__'s.  Room for these, in label sets and bytes, is
    kept from the start (for __overflow__) and from a service's first label
    set (for the service), so that both caps hold for every label set, and
    a request past them is still counted.
    """

    __slots__ = (
        "_budget", "_classes", "_free", "_limit", "_reserved", "held",
        "held_bytes", "services",
    )

    def __init__(self, limit: int, budget: int, classes: int, free: int) -> None:
        self.held: set[tuple[Any, ...]] = set()
        self.held_bytes = 0
        self.services: set[str] = set()
        self._limit = limit
        self._budget = budget
        self._classes = classes
        self._free = free
        self._reserved = self._fallback_bytes(OVERFLOW)

    def full(self, service: str, labels: tuple[Any, ...]) -> str | None:
        """The cap with no room for ``labels`` ("series" or "bytes"), or
        None when they are held, taking them (and room for the service's
        fallbacks) if they are new."""
        if labels in self.held:
            return None
        fresh = service not in self.services
        kept = (len(self.services) + fresh + 1) * self._classes
        if len(self.held) + 1 + kept > self._limit:
            return "series"
        cost = label_bytes(labels[: self._free])
        reserved = self._reserved + (self._fallback_bytes(service) if fresh else 0)
        if self.held_bytes + cost + reserved > self._budget:
            return "bytes"
        self.held.add(labels)
        self.held_bytes += cost
        self._reserved = reserved
        self.services.add(service)
        return None

    def fallback(self, service: str, *labels: str) -> tuple[str, ...]:
        """The fallback label set of ``service``: its own if room was kept
        for it, else __overflow__'s."""
        return (service if service in self.services else OVERFLOW, *labels)

    def _fallback_bytes(self, service: str) -> int:
        """The free label bytes of a service's fallback label sets."""
        return self._classes * label_bytes((service, *(OVERFLOW,) * (self._free - 1)))


def label_bytes(values: tuple[Any, ...]) -> int:
    """UTF-8 bytes of label values, as the page writes them unescaped."""
    return sum(len(value.encode("utf-8")) for value in values)


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


@dataclasses.dataclass(frozen=True)
class RequestSets:
    """The label sets one request is recorded in: duration (whose first
    three labels are also those of the size histograms), action and
    exception (None when the row has none)."""

    duration: tuple[str, ...]
    action: tuple[str, ...] | None
    exception: tuple[str, ...] | None


class Caps:
    """Every cap of the collector, for one process."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._services = LabelCap(limits.max_services, (OVERFLOW,))
        self._caps: dict[str, _ServiceCaps] = {}
        cap = limits.max_request_series
        budget = limits.max_request_label_bytes
        classes = len(STATUS_CLASSES)
        # Free labels: service, method, route (and action, microversion;
        # or exception); the status is not.
        self.durations = RequestSeries(cap, budget, classes, 3)
        self.actions = RequestSeries(cap, budget, classes, 5)
        self.exceptions = RequestSeries(cap, budget, 1, 4)
        self._messages: dict[str, SeriesCap] = {}

    def fits(self, value: str) -> bool:
        """Whether ``value`` is within max_label_bytes."""
        # A character is at most 4 bytes: most values need no encoding.
        return len(value) * 4 <= self.limits.max_label_bytes or len(
            value.encode("utf-8")
        ) <= self.limits.max_label_bytes

    def service(self, value: str, folds: Folds) -> str:
        """The service label ``value`` is recorded under."""
        return self._fold(OVERFLOW, "service", self._services, value, folds)

    def request(
        self,
        service: str,
        method: str,
        route: str,
        status: int,
        extra: tuple[str, ...],
        exception: str | None,
        folds: Folds,
    ) -> RequestSets:
        """The label sets of a checked request row of ``service`` (as
        service() admitted it), each within its caps."""
        caps = self._caps.get(service)
        if caps is None:
            caps = self._caps[service] = _ServiceCaps(self.limits)
        method = self._fold(service, "method", caps.method, method, folds)
        route = self._fold(service, "route", caps.route, route, folds)
        full: list[str] = []  # the caps that folded the request
        duration: tuple[str, ...] = (service, method, route, str(status))
        status_class = f"{status // 100}xx"
        if _full(self.durations, service, duration, full):
            # One label set per service and status class, which
            # status=~"5.." still matches.
            duration = self.durations.fallback(
                service, OVERFLOW, OVERFLOW, status_class
            )
        action: tuple[str, ...] | None = None
        if extra:
            action_label = self._fold(service, "action", caps.action, extra[0], folds)
            version = self._fold(
                service, "microversion", caps.microversion, extra[1], folds
            )
            action = (*duration[:3], action_label, version, duration[3])
            if _full(self.actions, service, action, full):
                action = self.actions.fallback(service, *(OVERFLOW,) * 4, status_class)
        failed: tuple[str, ...] | None = None
        if exception is not None:
            name = self._fold(service, "exception", caps.exception, exception, folds)
            failed = (*duration[:3], name)
            if _full(self.exceptions, service, failed, full):
                failed = self.exceptions.fallback(service, *(OVERFLOW,) * 3)
        # A request is counted once per cap that folded it.
        folds.extend((service, cap) for cap in full)
        return RequestSets(duration, action, failed)

    def message(self, metric: str, labels: tuple[Any, ...]) -> bool:
        """Whether a metric sent one message per sample holds ``labels``,
        taking them if it holds fewer than max_series_per_metric."""
        cap = self._messages.get(metric)
        if cap is None:
            cap = self._messages[metric] = SeriesCap(
                self.limits.max_series_per_metric
            )
        return cap.admit(labels)

    def _fold(
        self, service: str, label: str, cap: LabelCap, value: str, folds: Folds
    ) -> str:
        admitted = cap.admit(value) if self.fits(value) else OVERFLOW
        if admitted != value:
            folds.append((service, label))
        return admitted


def _full(
    series: RequestSeries, service: str, labels: tuple[str, ...], full: list[str]
) -> bool:
    """Whether ``series`` has no room for ``labels``; the cap that refused
    them is added to ``full``, once."""
    cap = series.full(service, labels)
    if cap is not None and cap not in full:
        full.append(cap)
    return cap is not None
