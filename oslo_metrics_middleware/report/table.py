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

"""A plain-text per-endpoint table for terminals."""

from __future__ import annotations

from collections.abc import Sequence

from oslo_metrics_middleware.report.exposition import Endpoint
from oslo_metrics_middleware.report.histogram import estimate
from oslo_metrics_middleware.report.histogram import latency_text

HEADERS = ("service", "method", "route", "requests", "error %", "p50",
           "p95", "p99")


def _row(endpoint: Endpoint) -> tuple[str, ...]:
    buckets = sorted(endpoint.buckets.items())
    errors = endpoint.client_errors + endpoint.server_errors
    error_pct = 100.0 * errors / endpoint.requests if endpoint.requests else 0.0
    return (
        endpoint.service,
        endpoint.method,
        endpoint.route,
        f"{endpoint.requests:.0f}",
        f"{error_pct:.1f}",
        latency_text(estimate(0.50, buckets)),
        latency_text(estimate(0.95, buckets)),
        latency_text(estimate(0.99, buckets)),
    )


def render(endpoints: Sequence[Endpoint]) -> str:
    """Endpoints busiest first, one line each, columns aligned."""
    ordered = sorted(endpoints, key=lambda e: (-e.requests, e.key))
    rows = [HEADERS, *(_row(endpoint) for endpoint in ordered)]
    widths = [max(len(row[col]) for row in rows) for col in range(len(HEADERS))]
    numeric = range(3, len(HEADERS))
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[col]) if col in numeric else cell.ljust(widths[col])
            for col, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
