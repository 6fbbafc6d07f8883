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

"""Terminal table, Markdown, JSON and CSV renderings of a Report."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import csv
import dataclasses
import io
import json
import math
from typing import Any

from oslo_metrics_middleware.report.analysis import EndpointReport
from oslo_metrics_middleware.report.analysis import Report
from oslo_metrics_middleware.report.capacity import ServiceCapacity
from oslo_metrics_middleware.report.compliance import Compliance
from oslo_metrics_middleware.report.histogram import Estimate
from oslo_metrics_middleware.report.histogram import latency_text
from oslo_metrics_middleware.report.projects import ProjectShare
from oslo_metrics_middleware.report.timeparse import human_duration
from oslo_metrics_middleware.report.timeparse import iso
from oslo_metrics_middleware.report.timeparse import rough_duration
from oslo_metrics_middleware.slo.objectives import seconds_text
from oslo_metrics_middleware.slo.objectives import window_text

ENDPOINT_HEADERS = (
    "service", "method", "route", "requests", "req/s", "p50", "p95",
    "p99", "4xx %", "5xx %", "busy", "share %", "bytes in", "bytes out",
)
CAPACITY_HEADERS = (
    "service", "req/s", "busy", "peak busy", "workers", "util %",
    "peak util %", "headroom", "saturates at req/s", "workers needed",
    "growth/week", "exceeds target", "runs out",
)
OBJECTIVE_HEADERS = (
    "objective", "requests to", "good when", "requests", "bad", "target %",
    "compliance %", "budget left %", "window",
)
LEFT_ALIGNED = 3


def _number(value: float | None, digits: int = 1) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.{digits}f}"


def _pct(fraction: float | None) -> str:
    return "-" if fraction is None else _number(100 * fraction)


def _bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else (
                f"{count:.1f} {unit}")
        count /= 1024
    return f"{count:.1f} TiB"


def _date(timestamp: float | None) -> str:
    return "-" if timestamp is None else iso(timestamp)[:10]


def _forecast(service: ServiceCapacity, timestamp: float | None) -> str:
    """A date, ``-`` for none, or how far the forecast may reach."""
    if timestamp is not None and math.isinf(timestamp) and service.trend:
        return f"not by {_date(service.trend.horizon(service.end))}"
    return _date(timestamp)


def endpoint_row(endpoint: EndpointReport) -> tuple[str, ...]:
    return (
        endpoint.service, endpoint.method, endpoint.route,
        f"{endpoint.requests:.0f}", _number(endpoint.request_rate, 2),
        *map(latency_text, endpoint.estimates),
        _pct(endpoint.client_error_ratio), _pct(endpoint.server_error_ratio),
        _number(endpoint.concurrency, 3), _pct(endpoint.busy_share),
        _bytes(endpoint.bytes_in), _bytes(endpoint.bytes_out),
    )


def capacity_row(service: ServiceCapacity) -> tuple[str, ...]:
    growth = None if service.trend is None else service.trend.growth_per_week()
    return (
        service.service, _number(service.request_rate, 2),
        _number(service.busy_workers, 2),
        _number(service.peak_busy_workers, 2),
        "-" if service.workers is None else str(service.workers),
        _pct(service.utilisation), _pct(service.peak_utilisation),
        _number(service.headroom_workers, 2),
        _number(service.saturation_rate, 1),
        str(service.workers_needed),
        "-" if growth is None or math.isnan(growth) else f"{growth:+.1%}",
        _forecast(service, service.exceeds_target_at),
        _forecast(service, service.runs_out_at),
    )


def objective_row(found: Compliance) -> tuple[str, ...]:
    objective = found.objective
    good_share, left = found.good_share, found.budget_left
    return (
        objective.name,
        " ".join(part for part in (objective.service, objective.method,
                                   objective.route) if part),
        "not 5xx" if objective.threshold is None
        else f"<= {seconds_text(objective.threshold)}",
        f"{found.requests:.0f}", f"{found.bad:.0f}",
        f"{100 * objective.target:g}",
        "-" if good_share is None else f"{100 * good_share:.3f}",
        "-" if left is None else f"{100 * left:.1f}",
        window_text(objective.window),
    )


def objective_lines(report: Report) -> list[str]:
    """What the objective figures cover; none without objectives."""
    if not report.objectives:
        return []
    return [
        "Objectives: compliance = good requests / requests over the data "
        "span above; budget left = 1 - bad / (allowed share x requests), "
        "negative once spent; over the objective's window only when the "
        "range is that window.",
        *(f"{found.objective.name}: no requests in the range"
          for found in report.objectives if found.requests <= 0),
    ]


PROJECT_HEADERS = ("service", "project", "requests", "share %", "busy s",
                   "busy share %")
PROJECTS_TITLE = ("Top projects (shares of the requests that carried a "
                  "project; __other__ = every project not named)")


def project_row(share: ProjectShare) -> tuple[str, ...]:
    return (
        share.service, share.project, f"{share.requests:.0f}",
        _pct(share.request_share), _number(share.busy_seconds, 2),
        _pct(share.busy_share),
    )


def project_record(share: ProjectShare) -> dict[str, Any]:
    return dataclasses.asdict(share)


def _aligned(
    rows: Sequence[Sequence[str]], left: int = LEFT_ALIGNED
) -> list[str]:
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(widths[col]) if col < left
            else cell.rjust(widths[col])
            for col, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def _summary(report: Report) -> str:
    return (
        f"{report.source}, {iso(report.start)} to {iso(report.end)} "
        f"({human_duration(round(report.seconds))}), "
        f"step {human_duration(round(report.step, 3))}; {coverage(report)}"
    )


def coverage(report: Report) -> str:
    """The span the data covers, next to the range asked for."""
    share = report.data_seconds / report.seconds if report.seconds else 1.0
    return (f"data from {iso(report.data_start)} to {iso(report.data_end)} "
            f"({rough_duration(report.data_seconds)}, {share:.1%} of the "
            "range); rates and busy workers are averages over it")


def trend_lines(report: Report) -> list[str]:
    """Why growth and run-out dates are missing, per service."""
    return [f"{service.service}: {service.trend_reason}"
            for service in report.services if service.trend_reason]


def health_lines(report: Report) -> list[str]:
    """Why figures may be off: inexact totals, dropped samples, overflow."""
    lines = [f"not exact: {note}" for note in report.notes]
    for service, count in sorted(report.dropped.items()):
        lines.append(f"dropped samples ({service or 'unknown'}): {count:.0f}")
    for service, count in sorted(report.overflow.items()):
        lines.append(f"route overflow ({service}): {count:.0f}")
    return lines


def text(report: Report) -> str:
    """The terminal table: endpoints, then capacity."""
    endpoints = [ENDPOINT_HEADERS, *map(endpoint_row, report.endpoints)]
    capacity = [CAPACITY_HEADERS, *map(capacity_row, report.services)]
    parts = [
        _summary(report), "", *_aligned(endpoints), "",
        "Capacity (busy = average busy workers, by Little's law; target "
        f"utilisation {_target(report)})", *_aligned(capacity),
        *trend_lines(report),
    ]
    if report.objectives:
        parts += ["", *objective_lines(report),
                  *_aligned([OBJECTIVE_HEADERS,
                             *map(objective_row, report.objectives)])]
    if report.projects:
        projects = [PROJECT_HEADERS, *map(project_row, report.projects)]
        parts += ["", PROJECTS_TITLE, *_aligned(projects, 2)]
    health = health_lines(report)
    if health:
        parts += ["", *health]
    return "\n".join(parts) + "\n"


def _target(report: Report) -> str:
    if not report.services:
        return "-"
    return f"{report.services[0].target_utilisation:.0%}"


def _markdown_table(rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    rule = ["---" if col < LEFT_ALIGNED else "---:"
            for col in range(len(rows[0]))]
    return [line(rows[0]), line(rule), *map(line, rows[1:])]


def markdown(report: Report) -> str:
    parts = [
        "# OpenStack API report", "", _summary(report), "",
        "## Capacity", "",
        *_markdown_table([CAPACITY_HEADERS,
                          *map(capacity_row, report.services)]),
        *(["", *trend_lines(report)] if trend_lines(report) else []),
        *(["", "## Objectives", "", *objective_lines(report), "",
            *_markdown_table([OBJECTIVE_HEADERS,
                              *map(objective_row, report.objectives)])]
          if report.objectives else []),
        "", "## Endpoints", "",
        *_markdown_table([ENDPOINT_HEADERS,
                          *map(endpoint_row, report.endpoints)]),
    ]
    if report.projects:
        parts += ["", "## Top projects", "", PROJECTS_TITLE, "",
                  *_markdown_table([PROJECT_HEADERS,
                                    *map(project_row, report.projects)])]
    health = health_lines(report)
    if health:
        parts += ["", "## Metrics health", "", *(f"- {h}" for h in health)]
    return "\n".join(parts) + "\n"


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def _quantile_fields(name: str, quantile: Estimate) -> dict[str, Any]:
    """The interpolated value, and the bucket it is known to lie in;
    ``bounded`` when the text formats show only the bound."""
    empty = math.isnan(quantile.value)
    return {
        f"{name}_seconds": _finite(quantile.value),
        f"{name}_bounded": quantile.bounded,
        f"{name}_lower_seconds": None if empty else quantile.lower,
        f"{name}_upper_seconds": None if empty else _finite(quantile.upper),
    }


def endpoint_record(endpoint: EndpointReport) -> dict[str, Any]:
    return {
        "service": endpoint.service, "method": endpoint.method,
        "route": endpoint.route, "requests": endpoint.requests,
        "request_rate": endpoint.request_rate,
        **_quantile_fields("p50", endpoint.estimates[0]),
        **_quantile_fields("p95", endpoint.estimates[1]),
        **_quantile_fields("p99", endpoint.estimates[2]),
        "client_errors": endpoint.client_errors,
        "server_errors": endpoint.server_errors,
        "client_error_ratio": endpoint.client_error_ratio,
        "server_error_ratio": endpoint.server_error_ratio,
        "busy_seconds": endpoint.busy_seconds,
        "concurrency": endpoint.concurrency,
        "busy_share": endpoint.busy_share,
        "bytes_in": endpoint.bytes_in, "bytes_out": endpoint.bytes_out,
        "exceptions": endpoint.exceptions,
    }


def slowest_record(endpoint: EndpointReport) -> list[dict[str, Any]]:
    return [{"request_id": r.request_id, "seconds": r.seconds,
             "time": iso(r.time)} for r in endpoint.slowest]


def capacity_record(service: ServiceCapacity) -> dict[str, Any]:
    trend = service.trend
    return {
        "service": service.service, "request_rate": service.request_rate,
        "busy_workers": service.busy_workers,
        "peak_busy_workers": service.peak_busy_workers,
        "workers": service.workers,
        "utilisation": service.utilisation,
        "peak_utilisation": service.peak_utilisation,
        "headroom_workers": service.headroom_workers,
        "saturation_rate": service.saturation_rate,
        "target_utilisation": service.target_utilisation,
        "workers_needed": service.workers_needed,
        "growth_per_week": None if trend is None
        else _finite(trend.growth_per_week()),
        "busy_slope_per_day": None if trend is None else trend.slope_per_day,
        "trend_reason": service.trend_reason or None,
        "forecast_until": None if trend is None
        else iso(trend.horizon(service.end)),
        "exceeds_target_at": _maybe_iso(service.exceeds_target_at),
        "runs_out_at": _maybe_iso(service.runs_out_at),
    }


def objective_record(found: Compliance) -> dict[str, Any]:
    objective = found.objective
    return {
        "name": objective.name, "service": objective.service,
        "method": objective.method, "route": objective.route,
        "sli": objective.sli, "threshold_seconds": objective.threshold,
        "target": objective.target, "window_seconds": objective.window,
        "requests": found.requests, "bad_requests": found.bad,
        "good_share": found.good_share, "budget_left": found.budget_left,
    }


def _maybe_iso(timestamp: float | None) -> str | None:
    """An instant, or null: none ahead, or not before ``forecast_until``."""
    if timestamp is None or math.isinf(timestamp):
        return None
    return iso(timestamp)


def as_json(report: Report) -> str:
    document = {
        "source": report.source, "start": iso(report.start),
        "end": iso(report.end), "seconds": report.seconds,
        "data_start": iso(report.data_start),
        "data_end": iso(report.data_end),
        "data_seconds": report.data_seconds,
        "step_seconds": report.step,
        "endpoints": [
            {**endpoint_record(e), "slowest_requests": slowest_record(e)}
            for e in report.endpoints
        ],
        "exemplars": report.exemplars,
        "capacity": [capacity_record(s) for s in report.services],
        "objectives": [objective_record(o) for o in report.objectives],
        "exact": not report.notes,
        "notes": report.notes,
        "dropped_samples": report.dropped,
        "route_overflow": report.overflow,
        "top_projects": [project_record(p) for p in report.projects],
    }
    return json.dumps(document, indent=2) + "\n"


def as_csv(report: Report) -> str:
    """One row per endpoint, raw numbers, for spreadsheets."""
    buffer = io.StringIO()
    records = [endpoint_record(e) for e in report.endpoints]
    fields = list(records[0]) if records else ["service", "method", "route"]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


RENDERERS: dict[str, Callable[[Report], str]] = {
    "table": text, "markdown": markdown, "json": as_json, "csv": as_csv,
}
