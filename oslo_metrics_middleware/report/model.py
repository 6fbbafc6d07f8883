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

"""What a source hands to the analysis: increases per endpoint.

Both sources (a Prometheus server, a file of scrapes) reduce the counters
to increases: over the whole range (exact, for the totals) and per step
(for the graphs).  Everything after that is source independent.
"""

from __future__ import annotations

import collections
import dataclasses

EndpointKey = tuple[str, str, str]


class ReportError(Exception):
    """A problem the user can fix; reported as one line, no traceback."""


def _float_dict() -> collections.defaultdict[str, float]:
    return collections.defaultdict(float)


def _bucket_dict() -> collections.defaultdict[float, float]:
    return collections.defaultdict(float)


@dataclasses.dataclass
class EndpointTotals:
    """Increases of one endpoint's counters over the whole range."""

    requests_by_status: dict[str, float] = dataclasses.field(
        default_factory=_float_dict
    )
    busy_seconds: float = 0.0
    # Cumulative: upper bound -> requests at most that long.
    buckets: dict[float, float] = dataclasses.field(
        default_factory=_bucket_dict
    )
    bytes_in: float = 0.0
    bytes_out: float = 0.0
    exceptions: float = 0.0


@dataclasses.dataclass
class EndpointSteps:
    """Increases of one endpoint's counters per step; index = step."""

    requests: list[float]
    client_errors: list[float]
    server_errors: list[float]
    busy_seconds: list[float]
    buckets: dict[float, list[float]]

    @classmethod
    def empty(cls, steps: int) -> EndpointSteps:
        return cls(
            [0.0] * steps, [0.0] * steps, [0.0] * steps, [0.0] * steps, {}
        )

    def bucket_row(self, le: float) -> list[float]:
        row = self.buckets.get(le)
        if row is None:
            row = self.buckets[le] = [0.0] * len(self.requests)
        return row


@dataclasses.dataclass(frozen=True)
class SlowRequest:
    """One request behind a duration sample: its id, seconds and when."""

    request_id: str
    seconds: float
    time: float


@dataclasses.dataclass
class RawData:
    """A source's answer for [start, end]."""

    source: str
    start: float
    end: float
    step: float
    # End of each step; the step covers (time - step, time].
    times: list[float]
    totals: dict[EndpointKey, EndpointTotals]
    steps: dict[EndpointKey, EndpointSteps]
    dropped: dict[str, float] = dataclasses.field(default_factory=dict)
    overflow: dict[str, float] = dataclasses.field(default_factory=dict)
    # Why a total may not be exact; empty when every total is.
    notes: list[str] = dataclasses.field(default_factory=list)
    # Slowest recent requests per endpoint from exemplars; None when the
    # source had none (no exemplar storage, or no request ids sent).
    slowest: dict[EndpointKey, list[SlowRequest]] | None = None
    # The first and last sample of the data inside [start, end]; rates
    # and busy workers are averages over this span, not the range asked.
    data_start: float | None = None
    data_end: float | None = None
    # (service, project) -> [requests, busy seconds] (report/projects.py).
    projects: dict[tuple[str, str], list[float]] = dataclasses.field(
        default_factory=dict
    )

    def covered(self) -> tuple[float, float]:
        """The span the data covers, the whole range when unknown."""
        first = self.start if self.data_start is None else self.data_start
        last = self.end if self.data_end is None else self.data_end
        return (first, last) if first < last else (self.start, self.end)

    def steps_for(self, key: EndpointKey) -> EndpointSteps:
        series = self.steps.get(key)
        if series is None:
            series = self.steps[key] = EndpointSteps.empty(len(self.times))
        return series


def status_class(status: str) -> str:
    """``4xx``, ``5xx`` or ``other`` for a status label."""
    if status[:1] == "4":
        return "4xx"
    if status[:1] == "5":
        return "5xx"
    return "other"
