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

"""A single self-contained HTML file: tables and SVG graphs, no scripts.

The page is ``templates/report.html.j2``; this module only gathers what it
shows.  A new section is a block in the template and a key in ``context``.
"""

from __future__ import annotations

from collections.abc import Sequence
import functools
import math
from typing import Any

import jinja2
from markupsafe import Markup

from oslo_metrics_middleware.report import formats
from oslo_metrics_middleware.report import svg
from oslo_metrics_middleware.report.analysis import EndpointReport
from oslo_metrics_middleware.report.analysis import Report
from oslo_metrics_middleware.report.capacity import ServiceCapacity
from oslo_metrics_middleware.report.histogram import Estimate
from oslo_metrics_middleware.report.histogram import latency_text
from oslo_metrics_middleware.report.timeparse import iso

TEMPLATE = "report.html.j2"
P50, P95, P99 = "#2f9e44", "#f08c00", "#e03131"
RATE, CLIENT_ERRORS, SERVER_ERRORS = "#1971c2", "#ae3ec9", "#c92a2a"
BUSY, WORKERS, TARGET = "#0c8599", "#495057", "#f08c00"
# The capacity graph is drawn this wide and scaled to the page's width.
WIDE = 1280


@functools.cache
def environment() -> jinja2.Environment:
    """Templates from the package, every value escaped unless Markup."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("oslo_metrics_middleware.report"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _graph(report: Report, lines: list[svg.Line], unit: str, css: str,
           bands: Sequence[svg.Band] = (), width: int = svg.WIDTH) -> Markup:
    # svg escapes its own text; the chart goes into the page as it is.
    chart = svg.chart(report.times, lines, unit, css, bands=bands,
                      width=width)
    return Markup(chart + svg.legend(lines, bands))  # noqa: S704


def _quantile(name: str, color: str,
              estimates: list[Estimate]) -> tuple[svg.Line, svg.Band]:
    """A line where the quantile is interpolated; a band over its bucket
    where only the bound is known, as the table shows ``<= 250 ms``."""
    line = [e.value * 1000 if not e.bounded else math.nan for e in estimates]
    lower = [e.lower * 1000 if e.bounded else math.nan for e in estimates]
    upper = [e.upper * 1000 if e.bounded else math.nan for e in estimates]
    return (svg.Line(name, color, line),
            svg.Band(f"{name} bucket (bound only)", color, lower, upper))


def _endpoint(report: Report, endpoint: EndpointReport) -> dict[str, Any]:
    graph = endpoint.graph
    lines, bands = zip(*(
        _quantile(name, color, estimates) for name, color, estimates in zip(
            ("p50", "p95", "p99"), (P50, P95, P99), graph.quantiles,
            strict=True)), strict=True)
    # Every line stays visible where another covers it (an endpoint whose
    # requests are all 4xx): the rate is wide and solid, the errors thin,
    # dashed and dotted on top of it.
    traffic = [
        svg.Line("requests/s", RATE, graph.rate, width=5.0),
        svg.Line("4xx/s", CLIENT_ERRORS, graph.client_error_rate,
                 dashes="6 4"),
        svg.Line("5xx/s", SERVER_ERRORS, graph.server_error_rate,
                 dashes="2 3"),
    ]
    return {
        "title": f"{endpoint.method} {endpoint.route}",
        "facts": [
            endpoint.service,
            f"{endpoint.requests:.0f} requests",
            f"p95 {latency_text(endpoint.estimates[1])}",
            f"busy {endpoint.concurrency:.3f} workers "
            f"({endpoint.busy_share:.1%} of the service)",
        ],
        "slowest": [
            f"{r.request_id} ({r.seconds * 1000:.1f} ms, {iso(r.time)})"
            for r in endpoint.slowest
        ],
        "latency": _graph(report, list(lines), "latency ms", "latency",
                          bands),
        "traffic": _graph(report, traffic, "requests/s", "traffic"),
    }


def _service(report: Report, service: ServiceCapacity) -> dict[str, Any]:
    busy = report.service_busy.get(service.service, [])
    lines = [svg.Line("busy workers", BUSY, busy)]
    if service.workers:
        count = len(report.times)
        lines.append(svg.Line(f"workers ({service.workers})", WORKERS,
                              [float(service.workers)] * count,
                              dashes="6 4"))
        lines.append(svg.Line(
            f"target {service.target_utilisation:.0%}", TARGET,
            [service.workers * service.target_utilisation] * count,
            dashes="6 4",
        ))
    return {"title": service.service,
            "chart": _graph(report, lines, "busy workers", "busy",
                            width=WIDE)}


def context(report: Report, graph_limit: int = 40) -> dict[str, Any]:
    """What the template shows; graphs for the ``graph_limit`` busiest
    endpoints only."""
    shown = report.endpoints[:graph_limit]
    return {
        "source": report.source,
        "start": iso(report.start),
        "end": iso(report.end),
        "coverage": formats.coverage(report),
        "trend_lines": formats.trend_lines(report),
        "health": formats.health_lines(report),
        "left_aligned": formats.LEFT_ALIGNED,
        "capacity_headers": formats.CAPACITY_HEADERS,
        "capacity_rows": [formats.capacity_row(s) for s in report.services],
        "services": [_service(report, s) for s in report.services],
        "objective_lines": formats.objective_lines(report),
        "objective_headers": formats.OBJECTIVE_HEADERS,
        "objective_rows": [formats.objective_row(o)
                           for o in report.objectives],
        "endpoint_headers": formats.ENDPOINT_HEADERS,
        "endpoint_rows": [formats.endpoint_row(e) for e in report.endpoints],
        "endpoints": [_endpoint(report, e) for e in shown],
        "skipped": len(report.endpoints) - len(shown),
        "projects_title": formats.PROJECTS_TITLE,
        "project_headers": formats.PROJECT_HEADERS,
        "project_rows": [formats.project_row(p) for p in report.projects],
    }


def render(report: Report, graph_limit: int = 40) -> str:
    """The whole document."""
    template = environment().get_template(TEMPLATE)
    return template.render(context(report, graph_limit))
