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

"""Which projects drive each service's load, within a fixed label budget.

Per service and per measure (requests, busy time) a space-saving summary
finds the heaviest projects of each window.  Only those get a ``project``
label; every other request is counted under ``__other__``.  The counters
are exact and only ever grow: the summary decides who is named, never how
much is counted.  A project's series goes through three phases, each at
least one window long, so that Prometheus sees every value a counter
takes between a zero and its removal:

* pending: exposed at zero, its requests still counted in ``__other__``;
* counted: its requests counted under its own label;
* frozen: exposed, no longer counted (its requests go to ``__other__``),
  then removed.

A counted project is frozen only when a project of the window's top ``k``
needs its room.  At most ``k`` projects are in these phases at once, plus
``__other__``.
"""

from __future__ import annotations

from collections.abc import Callable
import heapq
import re
import time
from typing import Any

OTHER = "__other__"
# Keystone's project ids are 32 hex characters; other backends use short
# ASCII names ("default").  Anything else is counted under __other__.
PROJECT_ID = re.compile(r"[0-9A-Za-z_-]{1,64}\Z", re.ASCII)
# Counters of a summary per project named: estimates are then high by at
# most 1 / (SUMMARY_FACTOR * k) of the window's total.
SUMMARY_FACTOR = 100
# Durations arrive in integer microseconds and are summed as such.
MICROSECONDS = 1_000_000


class SpaceSaving:
    """The weighted space-saving summary of a stream, in ``size`` counters.

    Every key's estimate is at least its true weight and exceeds it by at
    most ``total / size``; a key heavier than that is always held.
    """

    __slots__ = ("_heap", "counts", "size", "total")

    def __init__(self, size: int) -> None:
        self.size = size
        self.total = 0
        self.counts: dict[str, int] = {}
        # One (count, key) entry per key held; an entry's count may be
        # below the key's, never above, so a stale minimum is re-pushed.
        self._heap: list[tuple[int, str]] = []

    def add(self, key: str, weight: int) -> None:
        self.total += weight
        counts = self.counts
        if key in counts:
            counts[key] += weight
            return
        floor = 0
        if len(counts) >= self.size:
            floor = self._evict()
        counts[key] = floor + weight
        heapq.heappush(self._heap, (floor + weight, key))

    def _evict(self) -> int:
        """Drop the key with the least count; that count."""
        heap = self._heap
        while True:
            count, key = heapq.heappop(heap)
            if self.counts[key] == count:
                del self.counts[key]
                return count
            heapq.heappush(heap, (self.counts[key], key))

    def top(self, k: int) -> list[str]:
        """The ``k`` keys of largest estimate, largest first (ties by key)."""
        ranked = heapq.nsmallest(k, self.counts.items(), key=_descending)
        return [key for key, _ in ranked]


def _descending(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


class Attribution:
    """One measure of one service: its summary and its named series."""

    __slots__ = (
        "_frozen",
        "_metric",
        "_pending",
        "_scale",
        "_service",
        "counted",
        "other",
        "summary",
    )

    def __init__(self, metric: Any, service: str, k: int, scale: float) -> None:
        self._metric = metric
        self._service = service
        self._scale = scale
        self.summary = SpaceSaving(SUMMARY_FACTOR * k)
        self.other = metric.labels(service, OTHER)
        self.counted: dict[str, Any] = {}
        self._pending: dict[str, Any] = {}
        self._frozen: dict[str, Any] = {}

    def add(self, project: str, weight: int) -> None:
        """Count ``weight`` for ``project`` (a checked id, or OTHER)."""
        if project != OTHER:
            self.summary.add(project, weight)
        self.counted.get(project, self.other).inc(weight / self._scale)

    def roll(self, k: int) -> None:
        """End a window: each series moves one phase on.

        Frozen series go; pending ones are counted from now on.  A counted
        project keeps its label until one of this window's top ``k`` needs
        the room: then the lightest counted projects outside the top are
        frozen, and their room is free at the next window.
        """
        top = self.summary.top(k)
        estimates = self.summary.counts
        self.summary = SpaceSaving(self.summary.size)
        for project in self._frozen:
            self._metric.remove(self._service, project)
        self._frozen = {}
        self.counted.update(self._pending)
        newcomers = [p for p in top if p not in self.counted]
        room = k - len(self.counted)
        wanted = len(newcomers) - room
        if wanted > 0:
            heaviest = set(top)
            outside = [p for p in self.counted if p not in heaviest]
            outside.sort(key=lambda p: (estimates.get(p, 0), p))
            for project in outside[:wanted]:
                self._frozen[project] = self.counted.pop(project)
        self._pending = {
            p: self._metric.labels(self._service, p) for p in newcomers[: max(room, 0)]
        }


class Projects:
    """The top projects of every service, by requests and by busy time."""

    def __init__(
        self,
        requests: Any,
        busy: Any,
        k: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.k = k
        self.window = window
        self._metrics = (requests, busy)
        self._clock = clock
        self._ends = clock() + window
        self.services: dict[str, tuple[Attribution, Attribution]] = {}

    def record(self, service: str, rows: dict[str, tuple[int, int]]) -> None:
        """Count ``rows``: per project (as sent), its requests and busy
        microseconds, all of ``service`` (as the caps admitted it)."""
        if not self.k:
            return
        now = self._clock()
        if now >= self._ends:
            self._roll(now)
        pair = self.services.get(service)
        if pair is None:
            requests, busy = self._metrics
            pair = self.services[service] = (
                Attribution(requests, service, self.k, 1),
                Attribution(busy, service, self.k, MICROSECONDS),
            )
        by_requests, by_busy = pair
        for project, (count, micros) in rows.items():
            checked = OTHER
            if type(project) is str and PROJECT_ID.match(project):
                checked = project
            by_requests.add(checked, count)
            by_busy.add(checked, micros)

    def _roll(self, now: float) -> None:
        for pair in self.services.values():
            for attribution in pair:
                attribution.roll(self.k)
        # Windows keep their length however long no request came.
        self._ends += self.window * (1 + (now - self._ends) // self.window)


def group(
    services: dict[int, str], indexes: bytes, durations: list[int], projects: list[Any]
) -> dict[str, dict[Any, tuple[int, int]]]:
    """Rows that carry a project, as Projects.record takes them: per
    service, per project, requests and busy microseconds.  ``services``
    holds each key's service, by key index."""
    grouped: dict[str, dict[Any, tuple[int, int]]] = {}
    for number, micros, project in zip(indexes, durations, projects, strict=True):
        if project is None:
            continue
        rows = grouped.setdefault(services[number], {})
        try:
            count, busy = rows.get(project, (0, 0))
        except TypeError:  # a list or dict where an id belongs
            project = OTHER
            count, busy = rows.get(project, (0, 0))
        rows[project] = (count + 1, busy + micros)
    return grouped
