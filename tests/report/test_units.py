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

"""Capacity arithmetic, quantiles, durations, query text and scrape files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from oslo_metrics_middleware.report import capacity
from oslo_metrics_middleware.report import exemplars
from oslo_metrics_middleware.report import formats
from oslo_metrics_middleware.report import scrape
from oslo_metrics_middleware.report.histogram import Estimate
from oslo_metrics_middleware.report.histogram import bucket_index
from oslo_metrics_middleware.report.histogram import estimate
from oslo_metrics_middleware.report.histogram import latency_text
from oslo_metrics_middleware.report.histogram import quantile
from oslo_metrics_middleware.report.model import ReportError
from oslo_metrics_middleware.report.model import SlowRequest
from oslo_metrics_middleware.report.prometheus import Piece
from oslo_metrics_middleware.report.prometheus import exact_increase
from oslo_metrics_middleware.report.prometheus import irregular_query
from oslo_metrics_middleware.report.prometheus import piece_increase
from oslo_metrics_middleware.report.prometheus import pieces
from oslo_metrics_middleware.report.timeparse import parse_duration
from oslo_metrics_middleware.report.timeparse import parse_instant

DAY = 86400.0


def test_quantile_interpolates_like_histogram_quantile() -> None:
    buckets = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (math.inf, 100.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.7, buckets) == pytest.approx(0.3)
    assert quantile(0.95, buckets) == pytest.approx(0.75)
    assert bucket_index(0.3, [0.1, 0.5, 1.0, math.inf]) == 1


def test_quantiles_in_wide_or_end_buckets_are_bounds() -> None:
    buckets = [(0.001, 60.0), (0.0025, 70.0), (0.005, 80.0), (0.01, 95.0),
               (60.0, 99.0), (math.inf, 100.0)]
    lowest, wide, narrow, top = (estimate(q, buckets)
                                 for q in (0.5, 0.65, 0.75, 1.0))
    assert lowest == Estimate(pytest.approx(0.001 * 50 / 60), 0, 0.001)
    assert (lowest.bounded, latency_text(lowest)) == (True, "< 1 ms")
    assert (wide.lower, wide.upper, wide.bounded) == (0.001, 0.0025, True)
    assert latency_text(wide) == "<= 2.5 ms"
    assert narrow.bounded is False
    assert latency_text(narrow) == "3.8 ms"
    assert latency_text(top) == "> 60000 ms"
    assert latency_text(estimate(0.5, [])) == "-"


def test_durations_and_instants() -> None:
    assert parse_duration("7d") == 7 * DAY
    assert parse_duration("1h30m") == 5400
    assert parse_duration("0.5s") == 0.5
    assert parse_instant("-1h", now=10_000) == 6400
    assert parse_instant("1970-01-02T00:00:00Z", now=0) == DAY
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("7 days")


def test_workers_and_capacity_figures() -> None:
    assert capacity.parse_workers("compute=4x8") == ("compute", 32)
    assert capacity.parse_workers("image=6") == ("image", 6)
    service = capacity.ServiceCapacity(
        service="compute", request_rate=100.0, busy_workers=8.0,
        peak_busy_workers=12.0, workers=32, target_utilisation=0.7,
        trend=None, end=0.0,
    )
    assert service.utilisation == 0.25
    assert service.peak_utilisation == 0.375
    assert service.headroom_workers == 24.0
    assert service.saturation_rate == 400.0  # 32 workers / 80 ms each
    assert service.workers_needed == 12  # ceil(8 / 0.7)
    assert service.runs_out_at is None


def test_trend_and_run_out_date() -> None:
    times = [i * DAY / 4 for i in range(29)]  # 7 days, every 6 hours
    busy = [10 + t / DAY for t in times]  # +1 busy worker a day
    trend = capacity.fit_trend(times, busy, DAY / 4, 0.0, times[-1])
    assert isinstance(trend, capacity.Trend)
    assert trend.slope_per_day == pytest.approx(1.0)
    assert trend.level_at_end == pytest.approx(17.0)
    assert trend.growth_per_week() == pytest.approx(7 / 17)
    service = capacity.ServiceCapacity(
        service="compute", request_rate=1.0, busy_workers=13.5,
        peak_busy_workers=17.0, workers=20, target_utilisation=0.9,
        trend=trend, end=times[-1],
    )
    assert service.exceeds_target_at == pytest.approx(times[-1] + DAY)
    assert service.runs_out_at == pytest.approx(times[-1] + 3 * DAY)


def test_no_trend_without_enough_history_or_points() -> None:
    times = [i * DAY / 4 for i in range(29)]
    busy = [10 + t / DAY for t in times]
    # 15 minutes of data at the end of a week asked for.
    assert capacity.fit_trend(times, busy, DAY / 4, times[-1] - 900,
                              times[-1]) == (
        "not enough history for a trend (have 15m, need 3d)")
    assert capacity.fit_trend(times, busy, DAY / 4, times[-10],
                              times[-1]) == (
        "not enough history for a trend (have 2.2d, need 3d)")
    # A week of data in daily steps: 7 points, 21 needed.
    daily = times[4::4]
    assert capacity.fit_trend(daily, busy[4::4], DAY, 0.0, times[-1]) == (
        "too few points for a trend (have 7, need 21: use a smaller --step)")


def test_a_date_beyond_the_horizon_is_named_as_such() -> None:
    times = [i * DAY / 4 for i in range(13)]  # 3 days, +0.1 a day
    trend = capacity.fit_trend(times, [10 + t / DAY / 10 for t in times],
                               DAY / 4, 0.0, times[-1])
    assert isinstance(trend, capacity.Trend)
    service = capacity.ServiceCapacity(
        service="compute", request_rate=1.0, busy_workers=10.0,
        peak_busy_workers=10.5, workers=20, target_utilisation=0.7,
        trend=trend, end=times[-1],
    )
    row = formats.capacity_row(service)
    # Target (14 workers) in 37 days, all 20 in 97: neither within 6 days.
    assert row[-2:] == ("not by 1970-01-10", "not by 1970-01-10")
    record = formats.capacity_record(service)
    assert (record["exceeds_target_at"], record["runs_out_at"]) == (None,
                                                                    None)
    assert record["forecast_until"] == "1970-01-10T00:00:00Z"
    assert record["trend_reason"] is None


def test_forecast_reaches_at_most_twice_its_history() -> None:
    times = [i * DAY / 4 for i in range(13)]  # 3 days
    busy = [10 + t / DAY / 10 for t in times]  # +0.1 a day
    trend = capacity.fit_trend(times, busy, DAY / 4, 0.0, times[-1])
    assert isinstance(trend, capacity.Trend)
    # 20 workers would be reached in 97 days; only 6 days may be named.
    assert trend.date_reaching(20.0, times[-1]) == math.inf
    assert trend.date_reaching(10.5, times[-1]) == pytest.approx(
        times[-1] + 2 * DAY)
    assert trend.horizon(times[-1]) == times[-1] + 6 * DAY


def test_exact_increase_query_leaves_out_restarted_targets() -> None:
    steady = exact_increase("x_count", "route", 3600, "")
    assert steady == ("sum by (route) (((x_count - x_count offset 3600000ms)"
                      " >= 0) or x_count)")
    mixed = exact_increase("x_count", "route", 60, 'service=~"compute"',
                           "on (instance) (irregular)")
    assert mixed.endswith(
        '>= 0) or x_count{service=~"compute"}) unless on (instance) '
        "(irregular))")


def test_restarted_target_is_cut_at_its_process_starts() -> None:
    target = {"instance": "10.0.0.1:9", "job": 'a"b'}
    # (scrape time, process start time): restarts seen at 131 and 400.
    history = [(90.0, 50.0), (110.0, 50.0), (120.0, math.nan),
               (131.0, 129.6), (140.0, math.nan), (150.0, 129.6),
               (400.0, 390.0)]
    cut = pieces(target, history, 100.0, 300.0)
    matchers = 'instance="10.0.0.1:9",job="a\\"b"'
    assert cut == [Piece(matchers, 100.0, 130.999, from_start=True),
                   Piece(matchers, 130.999, 300.0, from_start=False)]
    first = piece_increase("x_count", "route", "", cut[0])
    assert first == (
        f"sum by (route) (((last_over_time(x_count{{{matchers}}}[30999ms])"
        f" - x_count{{{matchers}}} offset 30999ms) >= 0)"
        f" or last_over_time(x_count{{{matchers}}}[30999ms]))")
    assert piece_increase("x_count", "route", "", cut[1]) == (
        f"sum by (route) (last_over_time(x_count{{{matchers}}}[169001ms]))")


def test_start_time_read_back_with_float_noise_is_no_restart() -> None:
    # VictoriaMetrics returns one process's 1795642584.17 as
    # 1795642584.1699998 from some of its blocks; only 90.0 is a restart.
    history = [(10.0, 1795642584.17), (11.0, 1795642584.1699998),
               (12.0, 1795642584.17), (13.0, math.nan), (14.0, 1795642605.2),
               (15.0, 1795642605.2000003)]
    cut = pieces({"instance": "h:1"}, history, 9.0, 20.0)
    assert [(p.first, p.last, p.from_start) for p in cut] == [
        (9.0, 13.999, True), (13.999, 20.0, False)]
    query = irregular_query(60)
    # The same noise must not mark a steady target as restarted.
    assert "changes(" not in query
    assert query.startswith(
        "((max_over_time(process_start_time_seconds[60000ms])"
        " - min_over_time(process_start_time_seconds[60000ms])) > 0.001)")


def _sample(route: str, status: str, value: float) -> list[object]:
    return ["openstack_api_request_duration_seconds_count",
            {"service": "compute", "method": "GET", "route": route,
             "status": status}, value]


def test_scrape_file_counts_resets_and_born_series(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    records = [
        {"format": scrape.FORMAT, "version": 1, "targets": ["a"],
         "interval": 10},
        {"tick": 0, "time": 0, "target": "a",
         "samples": [_sample("/x", "200", 100)]},
        {"tick": 1, "time": 10, "target": "a",
         "samples": [_sample("/x", "200", 130), _sample("/y", "503", 4)]},
        # the collector restarted: /x counts from zero again
        {"tick": 2, "time": 20, "target": "a",
         "samples": [_sample("/x", "200", 5), _sample("/y", "503", 6)]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    raw = scrape.load(path)
    assert (raw.start, raw.end, raw.step) == (0, 20, 10)
    x = raw.totals[("compute", "GET", "/x")]
    y = raw.totals[("compute", "GET", "/y")]
    assert dict(x.requests_by_status) == {"200": 35}
    assert dict(y.requests_by_status) == {"503": 6}
    assert raw.steps[("compute", "GET", "/x")].requests == [30, 5]
    assert raw.steps[("compute", "GET", "/y")].server_errors == [4, 2]


def test_slowest_requests_from_exemplars() -> None:
    def series(route: str, *points: tuple[str, str, float]) -> object:
        return {"seriesLabels": {"service": "compute", "method": "GET",
                                 "route": route, "le": "0.5"},
                "exemplars": [{"labels": {"request_id": rid},
                               "value": value, "timestamp": at}
                              for rid, value, at in points]}

    answer = [
        series("/a", ("req-1", "0.30", 10.0), ("req-2", "0.45", 11.0)),
        series("/a", ("req-2", "0.45", 11.0), ("req-3", "2", 12.0)),
        series("/b", ("req-4", "NaN", 13.0)),
        {"seriesLabels": {"route": "/c"}, "exemplars": [{"labels": {}}]},
    ]
    found = exemplars.slowest(answer, limit=2)
    assert found == {("compute", "GET", "/a"): [
        SlowRequest("req-3", 2.0, 12.0), SlowRequest("req-2", 0.45, 11.0)]}
    with pytest.raises(ReportError):
        exemplars.slowest({"not": "a list"})
