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

"""One traffic mix of known latencies through every source of the report.

Prometheus, VictoriaMetrics, a live ``--scrape`` and the same recording
read back with ``--from-file`` must give what the client sent and timed:
the same counts, errors and bytes, the busy time between the seconds the
application slept and the seconds the client waited, and every quantile in
the bucket all of an endpoint's requests fell in.
"""

from __future__ import annotations

from collections.abc import Iterator
import dataclasses
import json
from pathlib import Path
import threading
import time
from typing import Any

import pytest

from oslo_metrics_middleware.report import cli
from tests.report.conftest import PACED
from tests.report.conftest import Traffic
from tests.report.conftest import _Stack
from tests.report.conftest import send_paced

pytestmark = pytest.mark.timeout(120)

PLAN = {"slow": 12, "medium": 16, "fast": 30, "missing": 6, "broken": 4}
# The bucket every request of an endpoint lies in, from what it slept.
BUCKETS = {"slow": (0.1, 0.25), "medium": (0.05, 0.1), "fast": (0.0, 0.001),
           "missing": (0.0, 0.001), "broken": (0.0, 0.001)}
SOURCES = ("prometheus", "victoriametrics", "scrape", "from-file")


@dataclasses.dataclass
class Reports:
    by_source: dict[str, dict[tuple[str, str, str], Any]]
    traffic: Traffic


def _endpoints(path: Path) -> dict[tuple[str, str, str], Any]:
    report = json.loads(path.read_text())
    return {(e["service"], e["method"], e["route"]): e
            for e in report["endpoints"]}


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reports]:
    workdir = tmp_path_factory.mktemp("sources")
    stack = _Stack(workdir, 1)
    [collector] = stack.collectors
    try:
        collector.start()
        stack.start_engines(1)
        start = time.time() - 1
        store, out = workdir / "scrapes.jsonl", workdir / "scrape.json"
        recording = threading.Thread(target=cli.main, args=([
            "--scrape", collector.metrics_url, "--interval", "0.5s",
            "--duration", "4s", "--store", str(store), "--format", "json",
            "--output", str(out), "--no-progress"],))
        recording.start()
        time.sleep(0.7)  # after the recording's baseline scrape
        traffic = send_paced(collector.socket_path, PLAN)
        stack.wait_for_count(sum(traffic.requests.values()))
        recording.join(30)
        assert not recording.is_alive()
        end = time.time()
        by_source = {"scrape": _endpoints(out)}
        for name, engine in stack.engines.items():
            path = workdir / f"{name}.json"
            assert cli.main([
                "--prometheus", engine.url, "--start", f"{start:.3f}",
                "--end", f"{end:.3f}", "--format", "json",
                "--output", str(path), "--no-progress"]) == 0
            by_source[name] = _endpoints(path)
        again = workdir / "from-file.json"
        assert cli.main(["--from-file", str(store), "--format", "json",
                         "--output", str(again)]) == 0
        by_source["from-file"] = _endpoints(again)
        yield Reports(by_source, traffic)
    finally:
        stack.stop()


def _key(name: str) -> tuple[str, str, str]:
    method, *_, route = PACED[name]
    return ("compute", method, route)


@pytest.mark.parametrize("source", SOURCES)
def test_quantiles_lie_in_the_bucket_of_every_request(
    reports: Reports, source: str
) -> None:
    endpoints = reports.by_source[source]
    for name, (lower, upper) in BUCKETS.items():
        key = _key(name)
        # The client's clock: no request of the endpoint left its bucket.
        durations = reports.traffic.durations[key]
        if lower:
            assert lower < min(durations) and max(durations) <= upper, name
        for q in ("p50", "p95", "p99"):
            bucket = (endpoints[key][f"{q}_lower_seconds"],
                      endpoints[key][f"{q}_upper_seconds"])
            assert bucket == (lower, upper), (source, name, q)


@pytest.mark.parametrize("source", SOURCES)
def test_counts_bytes_and_busy_time_are_what_was_sent(
    reports: Reports, source: str
) -> None:
    endpoints = reports.by_source[source]
    sent = reports.traffic
    assert set(endpoints) == set(sent.requests)
    for key, count in sent.requests.items():
        endpoint = endpoints[key]
        assert endpoint["requests"] == count, (source, key)
        assert endpoint["client_errors"] == sent.client_errors[key], key
        assert endpoint["server_errors"] == sent.server_errors[key], key
        assert endpoint["bytes_in"] == sent.bytes_in[key], key
        assert endpoint["bytes_out"] == sent.bytes_out[key], key
        # The filter times inside the client's wait and around the sleep.
        busy = endpoint["busy_seconds"]
        assert sent.slept[key] <= busy <= sum(sent.durations[key]), key


def test_sources_agree_field_by_field(reports: Reports) -> None:
    exact = ("requests", "client_errors", "server_errors", "bytes_in",
             "bytes_out", "exceptions", "p50_seconds", "p95_seconds",
             "p99_seconds", "p50_bounded", "p95_bounded", "p99_bounded")
    first = reports.by_source["prometheus"]
    for source in SOURCES[1:]:
        other = reports.by_source[source]
        for key, endpoint in first.items():
            assert {f: other[key][f] for f in exact} == {
                f: endpoint[f] for f in exact}, (source, key)
            # VictoriaMetrics stores floats to about 12 digits.
            assert other[key]["busy_seconds"] == pytest.approx(
                endpoint["busy_seconds"], rel=1e-9), (source, key)
