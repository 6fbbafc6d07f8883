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

"""The HTML report rendered by headless Chromium, graphs included."""

from __future__ import annotations

import os
from pathlib import Path
import shutil

import pytest

from oslo_metrics_middleware.report import analysis
from oslo_metrics_middleware.report import cli
from oslo_metrics_middleware.report import html_report
from oslo_metrics_middleware.report.capacity import CapacitySettings
from oslo_metrics_middleware.report.model import EndpointSteps
from oslo_metrics_middleware.report.model import EndpointTotals
from oslo_metrics_middleware.report.model import RawData
from tests.report.conftest import Deployment
from tests.report.conftest import read_png
from tests.report.conftest import screenshot

pytestmark = pytest.mark.timeout(150)


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def count_pixels(rows: list[bytes], color: str, tolerance: int = 40) -> int:
    red, green, blue = _rgb(color)
    found = 0
    for row in rows:
        for x in range(0, len(row), 3):
            if (abs(row[x] - red) + abs(row[x + 1] - green)
                    + abs(row[x + 2] - blue)) <= tolerance:
                found += 1
    return found


def test_html_renders_with_graphs(one_host: Deployment, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    status = cli.main([
        "--prometheus", one_host.prometheus.url,
        "--start", f"{one_host.start:.3f}", "--end", f"{one_host.end:.3f}",
        "--step", "1s", "--scrape-interval", "1s", "--workers", "compute=2x4",
        "--format", "html",
        "--output", str(page), "--no-progress",
    ])
    assert status == 0
    document = page.read_text()
    # Self-contained: no scripts, nothing fetched from elsewhere.
    assert "<script" not in document
    assert "src=" not in document and "href=" not in document
    assert document.count('<svg class="graph latency"') == 5
    assert document.count('<svg class="graph traffic"') == 5
    assert document.count('<svg class="graph busy"') == 1
    # Interpolated quantiles are lines, those known only by their bucket
    # bands; every endpoint has one or the other.
    assert document.count('data-series="p95') >= 5

    png = tmp_path / "report.png"
    screenshot(page, png, tmp_path)
    keep = os.environ.get("REPORT_SCREENSHOT_DIR")
    if keep:
        shutil.copy(png, Path(keep) / "report.png")
    width, height, rows = read_png(png)
    assert (width, height) == (1400, 2000)
    # Each graph line is drawn in its own colour; Chromium painted them.
    for color in (html_report.P50, html_report.P95, html_report.P99,
                  html_report.RATE, html_report.SERVER_ERRORS):
        assert count_pixels(rows, color) > 100, color


STEPS = 30


def _unmatched_only() -> analysis.Report:
    """One endpoint whose every request is a 404, all in 100-250 ms."""
    times = [1000.0 + 60 * n for n in range(1, STEPS + 1)]
    key = ("compute", "GET", "__unmatched__")
    totals = EndpointTotals(busy_seconds=0.15 * 10 * STEPS)
    totals.requests_by_status["404"] = 10.0 * STEPS
    totals.buckets.update({0.1: 0.0, 0.25: 10.0 * STEPS,
                           float("inf"): 10.0 * STEPS})
    steps = EndpointSteps(
        requests=[10.0] * STEPS, client_errors=[10.0] * STEPS,
        server_errors=[0.0] * STEPS, busy_seconds=[1.5] * STEPS,
        buckets={0.1: [0.0] * STEPS, 0.25: [10.0] * STEPS,
                 float("inf"): [10.0] * STEPS},
    )
    raw = RawData("test", 1000.0, times[-1], 60.0, times, {key: totals},
                  {key: steps})
    return analysis.build(raw, CapacitySettings(workers={"compute": 4}))


def _columns(rows: list[bytes], color: str) -> list[int]:
    red, green, blue = _rgb(color)
    return sorted({
        x // 3 for row in rows for x in range(0, len(row), 3)
        if abs(row[x] - red) + abs(row[x + 1] - green)
        + abs(row[x + 2] - blue) <= 40
    })


def test_every_line_visible_and_bounds_drawn_as_bands(tmp_path: Path) -> None:
    page = tmp_path / "unmatched.html"
    page.write_text(html_report.render(_unmatched_only()))
    document = page.read_text()
    # The quantiles are only known to be in 100-250 ms: bands, no line.
    assert document.count('<rect class="band" data-series="p95') == 1
    assert '<polyline class="series" data-series="p95"' not in document
    png = tmp_path / "unmatched.png"
    screenshot(page, png, tmp_path)
    width, _, rows = read_png(png)
    # The 4xx line lies on the request line; both must be seen.
    assert count_pixels(rows, html_report.RATE) > 300
    assert count_pixels(rows, html_report.CLIENT_ERRORS) > 300
    # The capacity graph spans the page, not half of it.
    busy = _columns(rows, html_report.BUSY)
    assert busy[-1] - busy[0] > 0.8 * width, (busy[0], busy[-1], width)
