"""A single self-contained HTML file: tables and SVG graphs, no scripts."""

from __future__ import annotations

from collections.abc import Sequence
import html

from oslo_metrics_middleware.report import formats
from oslo_metrics_middleware.report import svg
from oslo_metrics_middleware.report.analysis import EndpointReport
from oslo_metrics_middleware.report.analysis import Report
from oslo_metrics_middleware.report.capacity import ServiceCapacity
from oslo_metrics_middleware.report.timeparse import iso

P50, P95, P99 = "#2f9e44", "#f08c00", "#e03131"
RATE, CLIENT_ERRORS, SERVER_ERRORS = "#1971c2", "#ae3ec9", "#c92a2a"
BUSY, WORKERS, TARGET = "#1971c2", "#495057", "#f08c00"

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#212529;
background:#f8f9fa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}
h3{font-size:15px;margin:0 0 6px;font-family:monospace}
table{border-collapse:collapse;background:#fff;font-size:12px}
th,td{border:1px solid #dee2e6;padding:3px 6px;text-align:right}
th{background:#e9ecef}td.l,th.l{text-align:left}
.cards{display:flex;flex-wrap:wrap;gap:16px}
.card{background:#fff;border:1px solid #dee2e6;border-radius:6px;
padding:10px}
.pair{display:flex;flex-wrap:wrap;gap:8px}
svg.graph text{font:10px system-ui,sans-serif;fill:#495057}
.legend{font-size:12px;margin:2px 0 6px 58px}
.legend span{margin-right:14px}
.legend i{display:inline-block;width:14px;height:3px;margin:0 4px 3px 0;
vertical-align:middle}
.muted{color:#868e96}
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def cells(tag: str, row: Sequence[str]) -> str:
        return "".join(
            f'<{tag}{" class=l" if col < formats.LEFT_ALIGNED else ""}>'
            f"{html.escape(cell)}</{tag}>"
            for col, cell in enumerate(row)
        )

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return f"<table><tr>{cells('th', headers)}</tr>{body}</table>"


def _ms(value: float) -> str:
    return f"{value:g}"


def _latency_chart(report: Report, endpoint: EndpointReport) -> str:
    graph = endpoint.graph
    lines = [
        svg.Line("p50", P50, [v * 1000 for v in graph.p50]),
        svg.Line("p95", P95, [v * 1000 for v in graph.p95]),
        svg.Line("p99", P99, [v * 1000 for v in graph.p99]),
    ]
    return (svg.chart(report.times, lines, "latency ms", "latency", _ms)
            + svg.legend(lines))


def _traffic_chart(report: Report, endpoint: EndpointReport) -> str:
    graph = endpoint.graph
    lines = [
        svg.Line("requests/s", RATE, graph.rate),
        svg.Line("4xx/s", CLIENT_ERRORS, graph.client_error_rate),
        svg.Line("5xx/s", SERVER_ERRORS, graph.server_error_rate),
    ]
    return (svg.chart(report.times, lines, "requests/s", "traffic")
            + svg.legend(lines))


def _endpoint_card(report: Report, endpoint: EndpointReport) -> str:
    title = f"{endpoint.method} {endpoint.route}"
    facts = (
        f"{endpoint.service} &middot; {endpoint.requests:.0f} requests "
        f"&middot; p95 {formats.milliseconds(endpoint.p95)} ms &middot; busy "
        f"{endpoint.concurrency:.3f} workers ({endpoint.busy_share:.1%} "
        "of the service)"
    )
    return (
        f'<div class="card endpoint"><h3>{html.escape(title)}</h3>'
        f'<div class="muted">{facts}</div><div class="pair">'
        f"<div>{_latency_chart(report, endpoint)}</div>"
        f"<div>{_traffic_chart(report, endpoint)}</div></div></div>"
    )


def _service_card(report: Report, service: ServiceCapacity) -> str:
    busy = report.service_busy.get(service.service, [])
    lines = [svg.Line("busy workers", BUSY, busy)]
    if service.workers:
        count = len(report.times)
        lines.append(svg.Line(f"workers ({service.workers})", WORKERS,
                              [float(service.workers)] * count, dashed=True))
        lines.append(svg.Line(
            f"target {service.target_utilisation:.0%}", TARGET,
            [service.workers * service.target_utilisation] * count,
            dashed=True,
        ))
    return (
        f'<div class="card service"><h3>{html.escape(service.service)}</h3>'
        f"{svg.chart(report.times, lines, 'busy workers', 'busy')}"
        f"{svg.legend(lines)}</div>"
    )


def render(report: Report, graph_limit: int = 40) -> str:
    """The whole document; graphs for the ``graph_limit`` busiest endpoints."""
    shown = report.endpoints[:graph_limit]
    capacity_rows = [formats.capacity_row(s) for s in report.services]
    endpoint_rows = [formats.endpoint_row(e) for e in report.endpoints]
    skipped = len(report.endpoints) - len(shown)
    note = (f'<p class="muted">Graphs for the {len(shown)} busiest '
            f"endpoints; {skipped} more in the table above.</p>"
            if skipped else "")
    return "".join([
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        "<title>OpenStack API report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>OpenStack API report</h1>",
        f'<p class="muted">{html.escape(report.source)}: '
        f"{iso(report.start)} to {iso(report.end)}</p>",
        "<h2>Capacity</h2>",
        _table(formats.CAPACITY_HEADERS, capacity_rows),
        '<p class="muted">busy = average busy workers (request time per '
        "second, Little's law); saturates at = request rate that keeps "
        "every worker busy at today's mix.</p>",
        '<div class="cards">',
        *(_service_card(report, s) for s in report.services),
        "</div><h2>Endpoints</h2>",
        _table(formats.ENDPOINT_HEADERS, endpoint_rows),
        "<h2>Per-endpoint graphs</h2>", note,
        '<div class="cards">',
        *(_endpoint_card(report, e) for e in shown),
        "</div></body></html>\n",
    ])
