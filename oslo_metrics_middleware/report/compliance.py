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

"""Per objective: the share of good requests over the range, and the
error budget that share leaves.

The same counters the alerts read: a request is bad for an availability
objective when its status is 5xx, for a latency objective when it took
longer than the threshold, a bucket bound, so both counts are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses

from oslo_metrics_middleware.report.model import EndpointTotals
from oslo_metrics_middleware.report.model import RawData
from oslo_metrics_middleware.report.model import ReportError
from oslo_metrics_middleware.report.model import status_class
from oslo_metrics_middleware.slo.objectives import Objective


@dataclasses.dataclass
class Compliance:
    """One objective over the report's range."""

    objective: Objective
    requests: float
    bad: float

    @property
    def good_share(self) -> float | None:
        """Good requests over all; None without requests."""
        if self.requests <= 0:
            return None
        return 1.0 - self.bad / self.requests

    @property
    def budget_left(self) -> float | None:
        """The share of the error budget not spent: 1 with no bad request,
        0 at the target, negative past it; None without requests."""
        if self.requests <= 0:
            return None
        return 1.0 - self.bad / (self.objective.budget * self.requests)


def _bad(objective: Objective, totals: EndpointTotals, where: str) -> float:
    if objective.sli == "availability":
        return sum(count for status, count
                   in totals.requests_by_status.items()
                   if status_class(status) == "5xx")
    requests = sum(totals.requests_by_status.values())
    assert objective.threshold is not None
    good = totals.buckets.get(objective.threshold)
    if good is None:
        if requests == 0:
            return 0.0
        raise ReportError(
            f"objective {objective.name}: {where} has no "
            f"le={objective.threshold:g} bucket in the data")
    return requests - good


def build(objectives: Sequence[Objective], raw: RawData) -> list[Compliance]:
    """Compliance per objective, in the objectives file's order."""
    found = []
    for objective in objectives:
        requests = bad = 0.0
        for (service, method, route), totals in raw.totals.items():
            if not objective.matches(service, method, route):
                continue
            requests += sum(totals.requests_by_status.values())
            bad += _bad(objective, totals,
                        f"{service} {method} {route}")
        found.append(Compliance(objective, requests, bad))
    return found
