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

"""Compliance per objective from known totals, in every format."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from oslo_metrics_middleware.report import analysis
from oslo_metrics_middleware.report import cli
from oslo_metrics_middleware.report import formats
from oslo_metrics_middleware.report import html_report
from oslo_metrics_middleware.report.capacity import CapacitySettings
from oslo_metrics_middleware.report.model import EndpointTotals
from oslo_metrics_middleware.report.model import RawData
from oslo_metrics_middleware.report.model import ReportError
from oslo_metrics_middleware.slo import objectives

OBJECTIVES = """\
[objective:compute-availability]
service = compute
sli = availability
target = 99%

[objective:servers-latency]
service = compute
method = GET
route = /v2.1/servers
sli = latency
threshold = 250ms
target = 90%
window = 7d

[objective:network-availability]
service = network
sli = availability
target = 99.9%
"""


def _totals(statuses: dict[str, float],
            buckets: dict[float, float]) -> EndpointTotals:
    totals = EndpointTotals()
    totals.requests_by_status.update(statuses)
    totals.buckets.update(buckets)
    return totals


def _raw() -> RawData:
    return RawData(
        source="test", start=0.0, end=3600.0, step=60.0,
        times=[60.0 * n for n in range(1, 61)],
        totals={
            # 4xx and 499 are good for availability; 40 500s are not.
            ("compute", "GET", "/v2.1/servers"): _totals(
                {"200": 900, "404": 50, "499": 10, "500": 40},
                {0.1: 800, 0.25: 950, math.inf: 1000}),
            ("compute", "POST", "/v2.1/servers"): _totals(
                {"202": 98, "503": 2}, {0.1: 50, 0.25: 100, math.inf: 100}),
            ("image", "GET", "/v2/images"): _totals(
                {"200": 10}, {0.25: 10, math.inf: 10}),
        },
        steps={},
    )


def _report(tmp_path: Path) -> analysis.Report:
    source = tmp_path / "objectives.ini"
    source.write_text(OBJECTIVES)
    return analysis.build(_raw(), CapacitySettings(), objectives.load(source))


def test_compliance_and_budget_left_per_objective(tmp_path: Path) -> None:
    found = {c.objective.name: c for c in _report(tmp_path).objectives}
    availability = found["compute-availability"]
    assert (availability.requests, availability.bad) == (1100, 42)
    assert availability.good_share == pytest.approx(1058 / 1100)
    # 42 bad where 1% of 1100 = 11 were allowed: 3.8 budgets spent.
    assert availability.budget_left == pytest.approx(1 - 42 / 11)
    latency = found["servers-latency"]
    assert (latency.requests, latency.bad) == (1000, 50)
    assert latency.good_share == pytest.approx(0.95)
    assert latency.budget_left == pytest.approx(0.5)
    network = found["network-availability"]
    assert (network.requests, network.good_share, network.budget_left) == (
        0, None, None)


def test_every_format_shows_the_objectives(tmp_path: Path) -> None:
    report = _report(tmp_path)
    rows = [formats.objective_row(c) for c in report.objectives]
    assert rows == [
        ("compute-availability", "compute", "not 5xx", "1100", "42", "99",
         "96.182", "-281.8", "28d"),
        ("servers-latency", "compute GET /v2.1/servers", "<= 250ms", "1000",
         "50", "90", "95.000", "50.0", "7d"),
        ("network-availability", "network", "not 5xx", "0", "0", "99.9",
         "-", "-", "28d"),
    ]
    table = formats.text(report)
    assert "network-availability: no requests in the range" in table
    assert "servers-latency       compute GET /v2.1/servers" in table
    markdown = formats.markdown(report)
    assert "## Objectives" in markdown
    assert ("| servers-latency | compute GET /v2.1/servers | <= 250ms | "
            "1000 | 50 | 90 | 95.000 | 50.0 | 7d |") in markdown
    document = json.loads(formats.as_json(report))
    assert document["objectives"][1] == {
        "name": "servers-latency", "service": "compute", "method": "GET",
        "route": "/v2.1/servers", "sli": "latency",
        "threshold_seconds": 0.25, "target": 0.9,
        "window_seconds": 7 * 86400.0, "requests": 1000,
        "bad_requests": 50, "good_share": 0.95, "budget_left": 0.5,
    }
    assert document["objectives"][2]["good_share"] is None
    page = html_report.render(report)
    assert "<h2>Objectives</h2>" in page
    assert ('<td class="l">compute GET /v2.1/servers</td><td class="l">'
            "&lt;= 250ms</td><td>1000</td><td>50</td><td>90</td>"
            "<td>95.000</td><td>50.0</td><td>7d</td>") in page
    assert "network-availability: no requests in the range" in page


def test_no_objectives_no_section(tmp_path: Path) -> None:
    report = analysis.build(_raw(), CapacitySettings())
    assert "Objectives" not in formats.text(report)
    assert "Objectives" not in html_report.render(report)
    assert json.loads(formats.as_json(report))["objectives"] == []


def test_a_latency_objective_needs_its_bucket(tmp_path: Path) -> None:
    raw = _raw()
    del raw.totals[("compute", "GET", "/v2.1/servers")].buckets[0.25]
    source = tmp_path / "objectives.ini"
    source.write_text(OBJECTIVES)
    with pytest.raises(ReportError) as error:
        analysis.build(raw, CapacitySettings(), objectives.load(source))
    assert str(error.value) == (
        "objective servers-latency: compute GET /v2.1/servers has no "
        "le=0.25 bucket in the data")


def test_service_option_leaves_out_other_services_objectives(
    tmp_path: Path,
) -> None:
    source = tmp_path / "objectives.ini"
    source.write_text(OBJECTIVES)
    args = cli.build_parser().parse_args([
        "--from-file", "x", "--objectives", str(source),
        "--service", "network"])
    assert [o.name for o in cli._objectives(args)] == [
        "network-availability"]
    args.service = []
    assert len(cli._objectives(args)) == 3
