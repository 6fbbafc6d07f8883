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

"""Top projects in the report, from scrapes of a real collector whose
named projects go through every phase (pending, counted, frozen, gone)."""

from __future__ import annotations

import json
import time

import pytest

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector.process import CollectorProcess
from oslo_metrics_middleware.report import analysis
from oslo_metrics_middleware.report import formats
from oslo_metrics_middleware.report import html_report
from oslo_metrics_middleware.report import scrape
from oslo_metrics_middleware.report.capacity import CapacitySettings
from tests.functional import collectors

P1, P2, P3 = (f"{n:032x}" for n in (1, 2, 3))
SECONDS = 0.01
# One datagram per window (project_window = 1 s): what each carries.
LOAD = [
    {P1: 6, P2: 4, P3: 2},  # window 1: nobody named yet, all __other__
    {P1: 6, P2: 4, P3: 2},  # P1 and P2 pending (at 0)
    {P1: 6, P2: 4, P3: 2},  # P1 and P2 counted
    {P3: 20, P1: 1},
    {P1: 1},  # P3 needs room: P2 frozen
    {P1: 1},  # P2 removed
]


def _datagram(load: dict[str | None, int]) -> bytes:
    rows = [
        protocol.sample("compute", "GET", "/v2.1/servers", 200, SECONDS, project=p)
        for p, count in load.items()
        for _ in range(count)
    ]
    [(datagram, _)] = protocol.split_for_datagrams(rows)
    return datagram


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> analysis.Report:
    tmp = tmp_path_factory.mktemp("projects")
    options = {"top_projects": 2, "project_window": 1}
    records: list[dict[str, object]] = [
        {"format": scrape.FORMAT, "version": 1, "targets": ["c"], "interval": 1}
    ]
    with CollectorProcess(tmp, options=options) as collector:
        loads: list[dict[str | None, int]] = [{None: 1}, *LOAD]
        for tick, load in enumerate(loads):
            if tick > 1:
                time.sleep(1.05)  # each datagram in a window of its own
            collectors.send(collector.socket_path, _datagram(load))
            collectors.wait_datagrams(collector, tick + 1)
            _, samples = scrape.scrape(collector.metrics_url, 10)
            records.append(
                {"tick": tick, "time": float(tick), "target": "c", "samples": samples}
            )
    path = tmp / "scrapes.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return analysis.build(scrape.load(path), CapacitySettings())


def test_every_phase_is_counted_exactly(report: analysis.Report) -> None:
    found = {
        share.project: (share.requests, share.request_share)
        for share in report.projects
    }
    # P1 counted from window 3: 6 + 1 + 1 + 1; P2 for window 3 only, and
    # kept after its series was removed; everything else under __other__.
    total = sum(sum(load.values()) for load in LOAD)
    assert total == 59
    assert found == {
        P1: (9, 9 / 59),
        P2: (4, 4 / 59),
        "__other__": (46, 46 / 59),
    }
    assert [share.project for share in report.projects] == [P1, P2, "__other__"]
    busy = {share.project: share.busy_seconds for share in report.projects}
    assert busy == pytest.approx({P1: 0.09, P2: 0.04, "__other__": 0.46})


def test_table_json_and_html_show_the_shares(report: analysis.Report) -> None:
    table = formats.text(report)
    assert formats.PROJECTS_TITLE in table
    lines = [line.split() for line in table.splitlines()]
    assert ["compute", P1, "9", "15.3", "0.09", "15.3"] in lines
    assert ["compute", "__other__", "46", "78.0", "0.46", "78.0"] in lines
    document = json.loads(formats.as_json(report))
    assert document["top_projects"][1] == {
        "service": "compute",
        "project": P2,
        "requests": 4.0,
        "request_share": 4 / 59,
        "busy_seconds": pytest.approx(0.04),
        "busy_share": pytest.approx(4 / 59),
    }
    page = html_report.render(report)
    assert "<h2>Top projects</h2>" in page
    assert f'<td class="l">{P2}</td><td>4</td><td>6.8</td><td>0.04</td>' in page
