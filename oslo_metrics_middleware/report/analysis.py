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

"""From a source's increases to the per-endpoint and capacity report."""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import math

from oslo_metrics_middleware.report import compliance
from oslo_metrics_middleware.report.capacity import CapacitySettings
from oslo_metrics_middleware.report.capacity import ServiceCapacity
from oslo_metrics_middleware.report.capacity import fit_trend
from oslo_metrics_middleware.report.histogram import Estimate
from oslo_metrics_middleware.report.histogram import estimate
from oslo_metrics_middleware.report.model import EndpointKey
from oslo_metrics_middleware.report.model import EndpointSteps
from oslo_metrics_middleware.report.model import EndpointTotals
from oslo_metrics_middleware.report.model import RawData
from oslo_metrics_middleware.report.model import SlowRequest
from oslo_metrics_middleware.report.model import status_class
from oslo_metrics_middleware.report.projects import ProjectShare
from oslo_metrics_middleware.report.projects import shares
from oslo_metrics_middleware.slo.objectives import Objective

QUANTILES = (0.50, 0.95, 0.99)


@dataclasses.dataclass
class EndpointGraph:
    """Per-step values for the graphs; NaN where a step had no requests."""

    rate: list[float]
    client_error_rate: list[float]
    server_error_rate: list[float]
    # Per quantile of QUANTILES, per step, with the bucket it lies in.
    quantiles: tuple[list[Estimate], ...]


@dataclasses.dataclass
class EndpointReport:
    """One (service, method, route) over the report's range."""

    service: str
    method: str
    route: str
    requests: float
    client_errors: float
    server_errors: float
    request_rate: float
    p50: float
    p95: float
    p99: float
    busy_seconds: float
    concurrency: float
    busy_share: float
    bytes_in: float
    bytes_out: float
    exceptions: float
    graph: EndpointGraph
    # p50, p95, p99 with the buckets they lie in.
    estimates: tuple[Estimate, ...] = ()
    # Slowest recent requests, from exemplars (empty when there are none).
    slowest: list[SlowRequest] = dataclasses.field(default_factory=list)

    @property
    def client_error_ratio(self) -> float:
        return self.client_errors / self.requests if self.requests else 0.0

    @property
    def server_error_ratio(self) -> float:
        return self.server_errors / self.requests if self.requests else 0.0


@dataclasses.dataclass
class Report:
    source: str
    start: float
    end: float
    step: float
    times: list[float]
    endpoints: list[EndpointReport]
    services: list[ServiceCapacity]
    service_busy: dict[str, list[float]]
    dropped: dict[str, float]
    overflow: dict[str, float]
    notes: list[str] = dataclasses.field(default_factory=list)
    # Whether the source had any exemplars, so request ids are listed.
    exemplars: bool = False
    # The span the data covers inside [start, end]; figures per second
    # are averages over it.
    data_start: float = 0.0
    data_end: float = 0.0
    # Per objective of --objectives, in the file's order.
    objectives: list[compliance.Compliance] = dataclasses.field(
        default_factory=list)
    projects: list[ProjectShare] = dataclasses.field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Length of the range asked for."""
        return self.end - self.start

    @property
    def data_seconds(self) -> float:
        """Length of the span the data covers."""
        return self.data_end - self.data_start


def build(raw: RawData, settings: CapacitySettings,
          objectives: Sequence[Objective] = ()) -> Report:
    """The report, endpoints busiest first."""
    first, last = raw.covered()
    seconds = max(last - first, 1e-9)
    service_busy_total: dict[str, float] = {}
    for (service, _, _), totals in raw.totals.items():
        service_busy_total[service] = (
            service_busy_total.get(service, 0.0) + totals.busy_seconds
        )
    endpoints = [
        _endpoint(key, raw.totals[key], raw, seconds,
                  service_busy_total[key[0]])
        for key in busiest(raw.totals)
    ]
    service_busy = _service_busy(raw)
    services = [
        _service(name, endpoints, service_busy.get(name, []), raw, settings)
        for name in sorted(service_busy_total)
    ]
    return Report(
        raw.source, raw.start, raw.end, raw.step, raw.times, endpoints,
        services, service_busy, dict(raw.dropped), dict(raw.overflow),
        list(raw.notes), raw.slowest is not None, first, last,
        compliance.build(objectives, raw),
        shares(raw.projects),
    )


def busiest(totals: dict[EndpointKey, EndpointTotals]) -> list[EndpointKey]:
    """Endpoints busiest first, then by requests and route.

    The report lists them in this order and the HTML page draws the first
    ``--graph-limit``, so a source can choose the drawn endpoints from the
    totals alone and fetch per-step data for those only.
    """
    return sorted(totals, key=lambda key: (
        -totals[key].busy_seconds, -sum(_by_class(totals[key]).values()),
        key[2], key[0], key[1],
    ))


def _by_class(totals: EndpointTotals) -> dict[str, float]:
    by_class: dict[str, float] = {"4xx": 0.0, "5xx": 0.0, "other": 0.0}
    for status, count in totals.requests_by_status.items():
        by_class[status_class(status)] += count
    return by_class


def _endpoint(
    key: EndpointKey,
    totals: EndpointTotals,
    raw: RawData,
    seconds: float,
    service_busy: float,
) -> EndpointReport:
    by_class = _by_class(totals)
    requests = sum(by_class.values())
    estimates = tuple(
        estimate(q, list(totals.buckets.items())) for q in QUANTILES
    )
    p50, p95, p99 = (e.value for e in estimates)
    steps = raw.steps.get(key) or EndpointSteps.empty(len(raw.times))
    return EndpointReport(
        service=key[0], method=key[1], route=key[2],
        requests=requests,
        client_errors=by_class["4xx"],
        server_errors=by_class["5xx"],
        request_rate=requests / seconds,
        p50=p50, p95=p95, p99=p99,
        busy_seconds=totals.busy_seconds,
        concurrency=totals.busy_seconds / seconds,
        busy_share=(
            totals.busy_seconds / service_busy if service_busy > 0 else 0.0
        ),
        bytes_in=totals.bytes_in,
        bytes_out=totals.bytes_out,
        exceptions=totals.exceptions,
        graph=_graph(steps, raw.step),
        estimates=estimates,
        slowest=(raw.slowest or {}).get(key, []),
    )


def _graph(steps: EndpointSteps, step: float) -> EndpointGraph:
    bounds = sorted(steps.buckets)
    quantiles: tuple[list[Estimate], ...] = tuple([] for _ in QUANTILES)
    for index, count in enumerate(steps.requests):
        cumulative = [(le, steps.buckets[le][index]) for le in bounds]
        for row, q in zip(quantiles, QUANTILES, strict=True):
            row.append(estimate(q, cumulative) if count > 0
                       else Estimate(math.nan))
    return EndpointGraph(
        rate=[count / step for count in steps.requests],
        client_error_rate=[count / step for count in steps.client_errors],
        server_error_rate=[count / step for count in steps.server_errors],
        quantiles=quantiles,
    )


def _service_busy(raw: RawData) -> dict[str, list[float]]:
    """Busy workers per service per step."""
    busy: dict[str, list[float]] = {}
    for (service, _, _), steps in raw.steps.items():
        row = busy.setdefault(service, [0.0] * len(raw.times))
        for index, seconds in enumerate(steps.busy_seconds):
            row[index] += seconds / raw.step
    for service, _, _ in raw.totals:
        busy.setdefault(service, [0.0] * len(raw.times))
    return busy


# A step whose data covers this share of it gives a per-step average.
WHOLE_STEP = 0.95


def _whole_steps(raw: RawData) -> list[int]:
    """Steps the data covers (nearly) whole: a step the data only starts
    or ends in averages its busy time over seconds without data."""
    first, last = raw.covered()
    slack = (1 - WHOLE_STEP) * raw.step
    return [index for index, t in enumerate(raw.times)
            if t - raw.step >= first - slack and t <= last + slack]


def _service(
    name: str,
    endpoints: list[EndpointReport],
    busy_series: list[float],
    raw: RawData,
    settings: CapacitySettings,
) -> ServiceCapacity:
    mine = [e for e in endpoints if e.service == name]
    busy = sum(e.concurrency for e in mine)
    trend = fit_trend(raw.times, busy_series, raw.step, *raw.covered())
    return ServiceCapacity(
        service=name,
        request_rate=sum(e.request_rate for e in mine),
        busy_workers=busy,
        peak_busy_workers=max(
            (busy_series[i] for i in _whole_steps(raw)), default=None),
        workers=settings.workers.get(name),
        target_utilisation=settings.target_utilisation,
        trend=None if isinstance(trend, str) else trend,
        end=raw.covered()[1],
        trend_reason=trend if isinstance(trend, str) else "",
    )
