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
import datetime
import json
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


WORKERS = 8
RECORDED = 6.0  # seconds, the --duration of the recording
LAG = 2.5  # seconds from a request to its first sample in an engine


@dataclasses.dataclass
class Reports:
    by_source: dict[str, dict[tuple[str, str, str], Any]]
    documents: dict[str, Any]
    traffic: Traffic
    # The test's clock: the first request sent, and the reports' end.
    sent_at: float
    end: float


def _endpoints(report: Any) -> dict[tuple[str, str, str], Any]:
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
        workers = ["--workers", f"compute={WORKERS}", "--format", "json",
                   "--no-progress"]
        recording = threading.Thread(target=cli.main, args=([
            "--scrape", collector.metrics_url, "--interval", "0.5s",
            "--duration", f"{RECORDED}s", "--store", str(store),
            "--output", str(out), *workers],))
        recording.start()
        time.sleep(0.7)  # after the recording's baseline scrape
        sent_at = time.time()
        traffic = send_paced(collector.socket_path, PLAN)
        stack.wait_for_count(sum(traffic.requests.values()))
        recording.join(30)
        assert not recording.is_alive()
        end = time.time()
        documents = {"scrape": json.loads(out.read_text())}
        for name, engine in stack.engines.items():
            path = workdir / f"{name}.json"
            assert cli.main([
                "--prometheus", engine.url, "--start", f"{start:.3f}",
                "--end", f"{end:.3f}", "--output", str(path),
                *workers]) == 0
            documents[name] = json.loads(path.read_text())
        again = workdir / "from-file.json"
        assert cli.main(["--from-file", str(store), "--output", str(again),
                         *workers]) == 0
        documents["from-file"] = json.loads(again.read_text())
        by_source = {name: _endpoints(document)
                     for name, document in documents.items()}
        yield Reports(by_source, documents, traffic, sent_at, end)
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


@pytest.mark.parametrize("source", SOURCES)
def test_nothing_dropped_or_folded(reports: Reports, source: str) -> None:
    """The collector shows its drop and overflow counters at 0 for each
    service it has seen; a 0 is no event in any source."""
    document = reports.documents[source]
    assert (document["dropped_samples"], document["route_overflow"]) == (
        {}, {})
    assert document["exact"] is True


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


@pytest.mark.parametrize("source", ("scrape", "from-file"))
def test_recording_figures_are_averages_over_what_was_recorded(
    reports: Reports, source: str
) -> None:
    """A recording covers exactly its --duration: rates, busy workers and
    utilisation are what was sent and slept over those seconds."""
    document = reports.documents[source]
    sent = reports.traffic
    assert document["data_seconds"] == pytest.approx(RECORDED, abs=1e-3)
    for key, endpoint in _endpoints(document).items():
        assert endpoint["request_rate"] == pytest.approx(
            sent.requests[key] / RECORDED, rel=1e-3), key
    [compute] = document["capacity"]
    slept = sum(sent.slept.values())
    waited = sum(sum(d) for d in sent.durations.values())
    assert slept / RECORDED <= compute["busy_workers"] <= waited / RECORDED
    assert (slept / RECORDED / WORKERS <= compute["utilisation"]
            <= waited / RECORDED / WORKERS)
    assert compute["request_rate"] == pytest.approx(
        sum(sent.requests.values()) / RECORDED, rel=1e-3)
    # Seconds of data, nowhere near the days a trend needs.
    assert compute["growth_per_week"] is None
    assert compute["trend_reason"] == (
        "not enough history for a trend (have 6s, need 3d)")


@pytest.mark.parametrize("engine", ["prometheus", "victoriametrics"])
def test_engine_span_is_the_data_not_the_range(
    reports: Reports, engine: str
) -> None:
    """The range asked starts before the first request; the data starts
    at the first scrape after it and ends at the last scrape."""
    document = reports.documents[engine]
    # Scraped every second: the first sample within a scrape (and a flush,
    # and a busy machine's delay) of the first request, the last within a
    # scrape of the end; the document gives instants to the second.
    first = _instant(document["data_start"])
    last = _instant(document["data_end"])
    assert reports.sent_at - 1 <= first <= reports.sent_at + LAG
    assert reports.end - 1 - LAG <= last <= reports.end
    longest = reports.end - reports.sent_at
    shortest = longest - 2 * LAG
    assert shortest <= document["data_seconds"] <= longest
    sent = sum(reports.traffic.requests.values())
    [compute] = document["capacity"]
    assert sent / longest <= compute["request_rate"] <= sent / shortest


def _instant(text: str) -> float:
    return datetime.datetime.fromisoformat(text).timestamp()
