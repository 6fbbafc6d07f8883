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

"""The report a new user runs first: a quarter of an hour of data, defaults.

Fifteen minutes of scrapes are written into a real Prometheus with known
timestamps (``promtool tsdb create-blocks-from openmetrics``), as a fresh
collector would have left them, and the report runs with its defaults
(``--since 7d`` ending now).  It must give the endpoints, their latency,
error rates and capacity for the quarter hour the data covers, say that
trends need more history, and print no growth or date.
"""

from __future__ import annotations

from collections.abc import Iterator
import dataclasses
import json
from pathlib import Path
import re
import shutil
import subprocess
import time
from typing import Any

import pytest

from oslo_metrics_middleware.collector.openstack_api import DURATION_BUCKETS
from oslo_metrics_middleware.report import cli
from oslo_metrics_middleware.report.formats import CAPACITY_HEADERS
from tests.report.conftest import PrometheusServer

pytestmark = pytest.mark.timeout(120)

DURATION = "openstack_api_request_duration_seconds"
SCRAPE = 15  # seconds between the written scrapes
SCRAPES = 61  # 15 minutes from the first to the last
TARGET = 'instance="api-1:9464",job="openstack-api"'


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """Requests per scrape interval, each taking ``seconds``; every
    ``error_every``-th interval has one more with ``error_status``."""

    method: str
    route: str
    per_scrape: int
    seconds: float
    error_status: str
    error_every: int

    def requests(self, scrapes: int) -> tuple[int, int]:
        """(successes, errors) up to and including scrape ``scrapes``."""
        return (self.per_scrape * scrapes,
                sum(1 for n in range(1, scrapes + 1)
                    if n % self.error_every == 0))


ENDPOINTS = (
    Endpoint("GET", "/v2.1/servers/{id}", 2, 0.15, "404", 4),
    Endpoint("POST", "/v2.1/servers", 1, 0.075, "500", 8),
    Endpoint("GET", "/", 4, 0.0005, "404", 1000),
)


def _series(endpoint: Endpoint, status: str) -> str:
    return (f'{TARGET},service="compute",method="{endpoint.method}",'
            f'route="{endpoint.route}",status="{status}"')


def write_scrapes(path: Path, first: int) -> None:
    """OpenMetrics of the API counters as scraped every 15 s from
    ``first``; each series is born at the first scrape after its first
    request, as a fresh collector's are."""
    lines: dict[str, list[str]] = {}
    for n in range(1, SCRAPES + 1):
        when = first + (n - 1) * SCRAPE
        for endpoint in ENDPOINTS:
            ok, errors = endpoint.requests(n)
            for status, count in (("200", ok), (endpoint.error_status,
                                                errors)):
                if count == 0:
                    continue
                labels = _series(endpoint, status)
                for le in [*DURATION_BUCKETS, float("inf")]:
                    inside = count if endpoint.seconds <= le else 0
                    bound = "+Inf" if le == float("inf") else f"{le:g}"
                    lines.setdefault(f"{DURATION}_bucket", []).append(
                        f'{DURATION}_bucket{{{labels},le="{bound}"}} '
                        f"{inside} {when}")
                lines.setdefault(f"{DURATION}_count", []).append(
                    f"{DURATION}_count{{{labels}}} {count} {when}")
                lines.setdefault(f"{DURATION}_sum", []).append(
                    f"{DURATION}_sum{{{labels}}} "
                    f"{count * endpoint.seconds:.6f} {when}")
        lines.setdefault("process_start_time_seconds", []).append(
            f"process_start_time_seconds{{{TARGET}}} {first - 30} {when}")
    with open(path, "w") as out:
        for family, samples in lines.items():
            kind = "gauge" if family.startswith("process") else "counter"
            out.write(f"# TYPE {family} {kind}\n")
            # promtool wants each series' samples together, in time order.
            out.write("\n".join(sorted(samples, key=_series_then_time)))
            out.write("\n")
        out.write("# EOF\n")


def _series_then_time(line: str) -> tuple[str, int]:
    series, _, when = line.rsplit(" ", 2)
    return series, int(when)


@dataclasses.dataclass
class FirstHour:
    url: str
    workdir: Path
    first: int
    last: int


@pytest.fixture(scope="module")
def first_hour(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstHour]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (tools/test.sh installs it)")
    workdir = tmp_path_factory.mktemp("first-hour")
    last = int(time.time()) - 5
    first = last - (SCRAPES - 1) * SCRAPE
    source = workdir / "scrapes.om"
    write_scrapes(source, first)
    server = PrometheusServer(workdir, [])  # scrapes nothing
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics",
                    "--quiet", str(source), str(server.workdir / "data")],
                   check=True, capture_output=True, timeout=60)
    server.start()
    try:
        yield FirstHour(server.url, workdir, first, last)
    finally:
        server.stop()


def report(data: FirstHour, fmt: str, *extra: str) -> str:
    path = data.workdir / f"report-{time.monotonic_ns()}.{fmt}"
    assert cli.main(["--prometheus", data.url, "--workers", "compute=2x2",
                     "--format", fmt, "--output", str(path), "--no-progress",
                     *extra]) == 0
    return path.read_text()


SPAN = (SCRAPES - 1) * SCRAPE  # 900 s
NOT_ENOUGH = "compute: not enough history for a trend (have 15m, need 3d)"


def _sent() -> dict[tuple[str, str], tuple[int, int, float]]:
    """(requests, errors, busy seconds) per endpoint, from the plan."""
    sent = {}
    for endpoint in ENDPOINTS:
        ok, errors = endpoint.requests(SCRAPES)
        sent[(endpoint.method, endpoint.route)] = (
            ok + errors, errors, (ok + errors) * endpoint.seconds)
    return sent


def test_json_figures_are_for_the_quarter_hour(first_hour: FirstHour) -> None:
    document: Any = json.loads(report(first_hour, "json"))
    assert document["seconds"] == pytest.approx(7 * 86400, abs=5)
    # The data's span to the resolution of the search for its start.
    assert SPAN - 5 <= document["data_seconds"] <= SPAN
    sent = _sent()
    endpoints = {(e["method"], e["route"]): e for e in document["endpoints"]}
    assert set(endpoints) == set(sent)
    for key, (requests, errors, busy) in sent.items():
        endpoint = endpoints[key]
        assert endpoint["requests"] == requests, key
        status_errors = endpoint["client_errors"] + endpoint["server_errors"]
        assert status_errors == errors, key
        assert endpoint["busy_seconds"] == pytest.approx(busy, rel=1e-6)
        assert endpoint["request_rate"] == pytest.approx(
            requests / SPAN, rel=0.01), key
    slow = endpoints[("GET", "/v2.1/servers/{id}")]
    assert (slow["p50_lower_seconds"], slow["p99_upper_seconds"]) == (
        0.1, 0.25)
    assert slow["client_error_ratio"] == pytest.approx(15 / 137)
    fast = endpoints[("GET", "/")]
    assert (fast["p99_lower_seconds"], fast["p99_upper_seconds"]) == (
        0, 0.001)
    [compute] = document["capacity"]
    busy = sum(b for _, _, b in sent.values())
    assert compute["busy_workers"] == pytest.approx(busy / SPAN, rel=0.01)
    assert compute["utilisation"] == pytest.approx(busy / SPAN / 4, rel=0.01)
    # No step of the week's 42 min steps lies inside a quarter hour.
    assert compute["peak_busy_workers"] is None
    for field in ("growth_per_week", "busy_slope_per_day",
                  "exceeds_target_at", "runs_out_at", "forecast_until"):
        assert compute[field] is None, field
    assert compute["trend_reason"] == NOT_ENOUGH.split(": ", 1)[1]


@pytest.mark.parametrize("fmt", ["table", "markdown", "html"])
def test_text_formats_say_trends_need_more_history(
    first_hour: FirstHour, fmt: str
) -> None:
    text = report(first_hour, fmt)
    assert NOT_ENOUGH in text
    assert "(15m, 0.1% of the range)" in text
    for route in ("/v2.1/servers/{id}", "/v2.1/servers"):
        assert route in text
    assert "&lt;= 250 ms" in text if fmt == "html" else "<= 250 ms" in text
    if fmt == "html":
        return
    rows = [re.split(r"\s*\|\s*|\s{2,}", line.strip("| "))
            for line in text.splitlines()
            if line.startswith(("compute ", "| compute |"))]
    [capacity] = [row for row in rows if len(row) == len(CAPACITY_HEADERS)]
    # growth/week, exceeds target, runs out: nothing to say, so nothing.
    assert capacity[-3:] == ["-", "-", "-"], capacity
    assert capacity[3] == "-"  # no peak: no step lies inside the data
