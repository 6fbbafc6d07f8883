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

"""The benchmark scripts run, with tiny sizes, and account for every sample."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

REPO = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_filter_bench_delivers_every_sample() -> None:
    out = run_bench("bench_filter.py", "--requests", "20", "--rounds", "2")
    cases = out.count("\n[")
    assert cases == 13
    # The project case has the filter twice: with and without projects.
    taken = (1 + 2 * 20) * (cases + 1)
    assert f"{taken} taken, {taken} counted by the collector, 0 dropped" in out
    assert out.count("x prometheus_client") == cases


def test_memory_bench_reports_every_step() -> None:
    # The bench itself fails unless the buffer ends holding buffer_size.
    out = run_bench(
        "bench_memory.py", "--rounds", "1", "--templates", "20", "--buffer-size", "100"
    )
    assert out.startswith("route table of 20 templates, buffer_size 100, 1 rounds")
    for step in ("imported", "built", "delivered", "buffer full"):
        assert out.count(f"\n  {step} ") == 1, step


def test_server_bench_counts_every_request() -> None:
    out = run_bench("bench_server.py", "--rounds", "1", "--seconds", "1", "--floor")
    assert out.startswith("gunicorn -w 4 sync, wrk -t1 -c4, 1 rounds x 1 s")
    for name in ("bare", "filtered", "prometheus", "passthrough", "minimal"):
        assert out.count(f"\n  {name} ") == 2, name
    assert "counted by the collector" in out


def test_scrape_bench_compares_the_same_lines() -> None:
    out = run_bench("bench_collector.py", "scrape", "--routes", "20", "--rounds", "2")
    assert out.startswith("20 route values, 3 histograms, 2 rounds\n")
    for name in ("prometheus_client", "collector", "collector, gzip 9"):
        assert out.count(f" {name} ") == 2, name
    assert out.count("prometheus_client  median") == 2
    assert out.count("= 1.00x") >= 2


def test_cap_bench_reports_the_scrape() -> None:
    out = run_bench(
        "bench_collector.py", "cap", "--senders", "4", "--routes-per-sender", "5"
    )
    assert out.startswith("4 senders x 5 routes = 20 distinct routes over 5")
    assert "duration label sets held: 20\n" in out


def test_worst_bench_reports_page_rss_and_queue() -> None:
    out = run_bench(
        "bench_collector.py", "worst", "--services", "2",
        "--max-request-series", "40", "--max-request-label-bytes", "2600",
        "--rounds", "1",
    )
    # 40 label sets less the room kept for three services' fallbacks.
    assert out.startswith("24 request label sets over 2 services, 65 bytes ")
    # 24, and one more once the paced sender's rows came (folded, under
    # __overflow__: the metrics are full).
    assert "request_duration_seconds 24, " in out or (
        "request_duration_seconds 25, " in out)
    assert "RSS " in out and " MiB peak over 1 rounds" in out
    for way in ("text", "OpenMetrics+gzip"):
        assert f"\n  {way} " in out, way
    assert out.count("found the queue full") == 2
