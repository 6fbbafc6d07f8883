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

"""Burn-rate alerts on a real Prometheus, fed by the filter and collector.

The rules come from ``slo rules --time-scale 60``: the page's 1h and 5m
windows become 60 s and 5 s, so a 5xx burst pages within seconds, and a
trickle of errors below the budget never does.  The report's compliance is
compared with the requests the test sent.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
import dataclasses
import json
from pathlib import Path
import time
from typing import Any

import pytest

from oslo_metrics_middleware import cmd
from oslo_metrics_middleware.collector.process import CollectorProcess
from oslo_metrics_middleware.middleware import MetricsMiddleware
from oslo_metrics_middleware.report import cli
from tests.report.conftest import PACED
from tests.report.conftest import PrometheusServer
from tests.report.conftest import _call
from tests.report.conftest import _paced_app
from tests.report.conftest import scrape_config
from tests.report.conftest import wait_for

pytestmark = pytest.mark.timeout(240)

OBJECTIVES = """\
[objective:compute-availability]
service = compute
sli = availability
target = 99%

[objective:compute-latency]
service = compute
sli = latency
threshold = 100ms
target = 95%

[objective:medium-latency]
service = compute
method = POST
route = /v2.1/medium
sli = latency
threshold = 100ms
target = 99.5%
"""
FAST_BURN = "OpenStackAPIErrorBudgetFastBurn"
THRESHOLD = 0.1
TICK = 0.1
# Per tick: ten fast requests; every 4th tick a slow (150 ms) and a medium
# (60 ms) one; every 20th a 500: 1 in 211 requests bad, half the budget.
CALM = (("fast", 1, 10), ("slow", 4, 1), ("medium", 4, 1), ("broken", 20, 1))
BURST = (("broken", 1, 10),)


@dataclasses.dataclass
class Sent:
    """What the test sent: counts by name, and client-side seconds."""

    counts: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter)
    seconds: list[tuple[str, float]] = dataclasses.field(default_factory=list)


class Sender:
    """The paced app behind the filter, called at a steady pace."""

    def __init__(self, socket_path: Path) -> None:
        self.app = MetricsMiddleware.factory(
            {}, service_name="compute", metrics_socket_file=str(socket_path),
            flush_interval="0.05")(_paced_app)
        self.sent = Sent()
        self.tick = 0

    def run(self, plan: tuple[tuple[str, int, int], ...],
            seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            began = time.monotonic()
            self.tick += 1
            for name, every, count in plan:
                if self.tick % every:
                    continue
                for _ in range(count):
                    method, path, _, status, body, _ = PACED[name]
                    got, took, _ = _call(self.app, method, path, body)
                    assert got == status
                    self.sent.counts[name] += 1
                    self.sent.seconds.append((name, took))
            time.sleep(max(0.0, TICK - (time.monotonic() - began)))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    workdir = tmp_path_factory.mktemp("slo")
    objectives = workdir / "objectives.ini"
    objectives.write_text(OBJECTIVES)
    assert cmd.main(["slo", "rules", str(objectives), "--output-dir",
                     str(workdir / "rules"), "--time-scale", "60"]) == 0
    collector = CollectorProcess(workdir=workdir / "host")
    collector.workdir.mkdir()
    collector.start()
    target = f"127.0.0.1:{collector.port}"
    prometheus = PrometheusServer(workdir, [target])
    config = scrape_config([target], "1s", [])
    config["rule_files"] = [
        str(workdir / "rules" / "openstack-api-slo.rules.yaml")]
    prometheus.config.write_text(json.dumps(config))
    try:
        prometheus.start()
        prometheus.wait_for_targets(1)
        yield objectives, collector, prometheus
    finally:
        prometheus.stop()
        collector.stop()


def _alerts(prometheus: PrometheusServer) -> list[tuple[str, str, str]]:
    return sorted(
        (a["metric"]["alertname"], a["metric"]["slo"],
         a["metric"]["alertstate"])
        for a in prometheus.query('ALERTS{alertname=~"OpenStackAPI.*"}'))


def _ratio(prometheus: PrometheusServer, window: str) -> float | None:
    found = prometheus.query(
        f"slo:openstack_api_request_errors:ratio_rate{window}"
        '{slo="compute-availability"}')
    return float(found[0]["value"][1]) if found else None


def test_fast_burn_pages_on_a_5xx_burst_and_not_before(
    stack: Any, tmp_path: Path,
) -> None:
    objectives, collector, prometheus = stack
    start = time.time() - 1
    sender = Sender(collector.socket_path)
    # Calm: half the budget spent, for longer than the 5 s and 30 s
    # windows; the ratios are recorded and no alert fires.
    sender.run(CALM, 8.0)
    wait_for(lambda: _ratio(prometheus, "1m") is not None, 20,
             "the 1m error ratio recorded")
    for _ in range(3):
        sender.run(CALM, 2.0)
        assert _alerts(prometheus) == []
        calm = _ratio(prometheus, "1m")
        assert calm is not None and calm < 0.02
    # The burst: only 500s, until the page fires (bounded).
    burst_began = time.monotonic()
    deadline = burst_began + 60
    while not any(alert == (FAST_BURN, "compute-availability", "firing")
                  for alert in _alerts(prometheus)):
        assert time.monotonic() < deadline, "no page within 60 s of burst"
        sender.run(BURST, 1.0)
    # It fired because both windows burnt more than 14.4 x 1% (the 60 s
    # window holds the calm seconds too, so it takes a few seconds).
    long_ratio, short_ratio = _ratio(prometheus, "1m"), _ratio(prometheus,
                                                                "5s")
    assert long_ratio is not None and long_ratio > 0.144
    assert short_ratio is not None and short_ratio > 0.144
    # Latency objectives are not burnt by fast 500s.
    assert all(alert[1] == "compute-availability"
               for alert in _alerts(prometheus))

    total = sum(sender.sent.counts.values())
    prometheus.wait_for_count(total)
    _check_report(prometheus, objectives, sender.sent, start, tmp_path)


def _check_report(prometheus: PrometheusServer, objectives: Path,
                  sent: Sent, start: float, tmp_path: Path) -> None:
    """The report's compliance against what the test sent."""
    output = tmp_path / "report.json"
    assert cli.main([
        "--prometheus", prometheus.url, "--start", f"{start:.3f}",
        "--end", f"{time.time() + 1:.3f}", "--step", "5s", "--format",
        "json", "--output", str(output), "--no-progress",
        "--objectives", str(objectives),
    ]) == 0
    found = {o["name"]: o for o in json.loads(output.read_text())
             ["objectives"]}
    total = sum(sent.counts.values())
    errors = sent.counts["broken"]

    availability = found["compute-availability"]
    assert (availability["requests"], availability["bad_requests"]) == (
        total, errors)
    assert availability["good_share"] == pytest.approx(1 - errors / total)
    assert availability["budget_left"] == pytest.approx(
        1 - errors / (0.01 * total))
    assert availability["budget_left"] < 0  # the burst spent it all

    # Slow requests sleep 150 ms: bad for sure. Others are good unless
    # the client saw them take more than the threshold (a loaded machine).
    slow = sent.counts["slow"]
    unsure = sum(1 for name, took in sent.seconds
                 if name != "slow" and took > THRESHOLD)
    latency = found["compute-latency"]
    assert latency["requests"] == total
    assert slow <= latency["bad_requests"] <= slow + unsure
    assert latency["budget_left"] == pytest.approx(
        1 - latency["bad_requests"] / (0.05 * total))

    medium = found["medium-latency"]
    unsure_medium = sum(1 for name, took in sent.seconds
                        if name == "medium" and took > THRESHOLD)
    assert medium["requests"] == sent.counts["medium"] > 0
    assert 0 <= medium["bad_requests"] <= unsure_medium
    assert (medium["method"], medium["route"], medium["threshold_seconds"],
            medium["target"]) == ("POST", "/v2.1/medium", 0.1, 0.995)
