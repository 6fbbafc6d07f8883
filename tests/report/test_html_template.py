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

"""The HTML report's Jinja2 template: content, escaping, extension."""

from __future__ import annotations

import jinja2

from oslo_metrics_middleware.report import analysis
from oslo_metrics_middleware.report import html_report
from oslo_metrics_middleware.report.capacity import CapacitySettings
from oslo_metrics_middleware.report.model import EndpointSteps
from oslo_metrics_middleware.report.model import EndpointTotals
from oslo_metrics_middleware.report.model import RawData

HOSTILE = "/v2.1/<script>alert(1)</script>/{id}"


def _report(routes: list[str]) -> analysis.Report:
    times = [1000.0 + 60 * n for n in range(1, 4)]
    totals = {}
    steps = {}
    for route in routes:
        key = ("compute", "GET", route)
        totals[key] = EndpointTotals(busy_seconds=6.0)
        totals[key].requests_by_status["200"] = 30.0
        totals[key].requests_by_status["404"] = 3.0
        totals[key].buckets.update({0.1: 30.0, float("inf"): 33.0})
        steps[key] = EndpointSteps(
            requests=[11.0, 11.0, 11.0], client_errors=[1.0, 1.0, 1.0],
            server_errors=[0.0, 0.0, 0.0], busy_seconds=[2.0, 2.0, 2.0],
            buckets={0.1: [10.0, 10.0, 10.0], float("inf"): [11.0] * 3},
        )
    raw = RawData("test <source>", 1000.0, 1180.0, 60.0, times, totals, steps)
    return analysis.build(raw, CapacitySettings(workers={"compute": 4}))


def test_every_section_and_graph_is_rendered() -> None:
    page = html_report.render(_report(["/v2.1/servers", "/v2.1/flavors"]))
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<h2>") == 3
    assert page.count('<div class="card service">') == 1
    assert page.count('<div class="card endpoint">') == 2
    assert page.count('<svg class="graph latency"') == 2
    assert page.count('<svg class="graph traffic"') == 2
    assert page.count('<svg class="graph busy"') == 1
    assert "<h3>GET /v2.1/servers</h3>" in page
    assert "compute · 33 requests · p95" in page
    assert "Graphs for the" not in page
    assert "<script" not in page


def test_graph_limit_says_how_many_are_left_out() -> None:
    page = html_report.render(_report(["/a", "/b", "/c"]), graph_limit=1)
    assert page.count('<div class="card endpoint">') == 1
    assert "Graphs for the 1 busiest endpoints;\n2 more in the table" in page


def test_labels_and_source_are_escaped() -> None:
    page = html_report.render(_report([HOSTILE]))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "test &lt;source&gt;: " in page


def test_a_new_section_is_one_block() -> None:
    """How a later section (e.g. slowest requests) plugs in."""
    loader = jinja2.ChoiceLoader([
        jinja2.DictLoader({"extended.html.j2": (
            '{% extends "report.html.j2" %}{% block endpoints %}'
            "{{ super() }}<h2>Extra</h2><p>{{ extra }}</p>{% endblock %}"
        )}),
        html_report.environment().loader,  # type: ignore[list-item]
    ])
    environment = html_report.environment().overlay(loader=loader)
    context = html_report.context(_report(["/v2.1/servers"]))
    page = environment.get_template("extended.html.j2").render(
        context, extra="<b>"
    )
    assert page.count("<h2>") == 4
    assert "<h2>Endpoints</h2>" in page
    assert page.index("<h2>Extra</h2><p>&lt;b&gt;</p>") < page.index(
        "<h2>Per-endpoint graphs</h2>"
    )
