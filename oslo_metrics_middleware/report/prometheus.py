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

"""Read the API metrics from a Prometheus-compatible HTTP API.

Totals must equal what was served, so they are not ``increase()``, which
extrapolates to the range edges on Prometheus, guesses a series' first
value on VictoriaMetrics and differs again on other engines.  For a target
whose collector kept running, the exact increase is the value at the end
minus the value at the start (a series born inside the range counts from
zero).  A target whose collector restarted or stopped inside the range is
cut where its process start time changed: each piece is the last value
before the next cut (minus the value at the range start, for the first).
Only plain selectors, ``offset`` and ``*_over_time()`` are used, which
every Prometheus-compatible engine evaluates alike, and reading just the
ends keeps a week-long report cheap: the engine does not decode the
samples in between.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import concurrent.futures
import dataclasses
import itertools
import json
import math
from time import time as wall_clock
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

from oslo_metrics_middleware.report import exemplars
from oslo_metrics_middleware.report import projects
from oslo_metrics_middleware.report.analysis import busiest
from oslo_metrics_middleware.report.model import EndpointKey
from oslo_metrics_middleware.report.model import EndpointTotals
from oslo_metrics_middleware.report.model import RawData
from oslo_metrics_middleware.report.model import ReportError
from oslo_metrics_middleware.report.model import status_class
from oslo_metrics_middleware.report.timeparse import iso
from oslo_metrics_middleware.report.timeparse import promql_duration

DURATION = "openstack_api_request_duration_seconds"
REQUEST_SIZE = "openstack_api_request_size_bytes"
RESPONSE_SIZE = "openstack_api_response_size_bytes"
EXCEPTIONS = "openstack_api_exceptions_total"
DROPPED = "openstack_api_metrics_dropped_samples_total"
OVERFLOW = "openstack_api_metrics_route_overflow_total"
ENDPOINT = "service, method, route"
START_TIME = "process_start_time_seconds"
# Query times go to the millisecond; a cut this far before a scrape
# leaves that scrape on its side.
CUT_BEFORE = 0.001
# A new process starts at least one clock tick (10 ms) after the old one.
# Smaller differences are one start time read back with float noise:
# VictoriaMetrics' lossy storage returns 1795642584.17 as
# 1795642584.1699998 from some blocks, which taken as a restart would
# count the requests before that point twice.
SAME_START = 0.001
# Prometheus refuses range queries of more than 11,000 points per series.
MAX_POINTS = 11000
# Points of the range queries that find where the data starts and ends.
COVERAGE_POINTS = 2000
MIN_RESOLUTION = 1.0
# Drawn endpoints per graph query: keeps the query text well under
# VictoriaMetrics' 16 KB -search.maxQueryLen even for long routes.
GRAPH_BATCH = 40

Vector = list[tuple[dict[str, str], float]]
Matrix = list[tuple[dict[str, str], list[tuple[float, float]]]]
Progress = Callable[[int, int], None]
# A query runs on a worker thread; the merge it returns runs on the caller's.
Merge = Callable[[], None]
Fetch = Callable[[], Merge]
RangeQuery = tuple[str, Callable[[Matrix], None]]


class PrometheusClient:
    """The two query endpoints of the Prometheus HTTP API."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ReportError(f"--prometheus must be an http(s) URL: {url!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, path: str, params: dict[str, str]) -> Any:
        # POST keeps long queries out of URL limits; label values is GET only.
        # nocache: VictoriaMetrics otherwise answers from a cache and hides
        # the newest 30 s (its -search.latencyOffset); Prometheus ignores it.
        encoded = urllib.parse.urlencode({**params, "nocache": "1"})
        if path.startswith("/api/v1/label/"):
            request = urllib.request.Request(  # noqa: S310 - http(s) checked
                f"{self.url}{path}?{encoded}")
        else:
            request = urllib.request.Request(  # noqa: S310 - http(s) checked
                f"{self.url}{path}", data=encoded.encode(), method="POST",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        try:
            with urllib.request.urlopen(  # noqa: S310 - http(s) checked
                request, timeout=self.timeout
            ) as response:
                payload = json.load(response)
        except urllib.error.HTTPError as exc:
            raise ReportError(
                f"Prometheus at {self.url} answered {exc.code}: "
                f"{_api_error(exc)}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ReportError(
                f"cannot reach Prometheus at {self.url}: {reason}"
            ) from None
        except ValueError:
            raise ReportError(
                f"{self.url}{path} did not answer with JSON; "
                "is --prometheus a Prometheus server?"
            ) from None
        if not isinstance(payload, dict) or payload.get("status") != "success":
            raise ReportError(f"Prometheus query failed: {payload!r:.200}")
        return payload.get("data")

    def query(self, promql: str, time: float) -> Vector:
        data = self._call("/api/v1/query", {"query": promql, "time": f"{time:.3f}"})
        return [
            (item["metric"], float(item["value"][1]))
            for item in _result(data, "vector")
        ]

    def query_exemplars(self, promql: str, start: float, end: float) -> Any:
        return self._call("/api/v1/query_exemplars", {
            "query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}",
        })

    def query_samples(self, promql: str, time: float) -> Matrix:
        """The raw samples of a range selector, e.g. ``m[1h]``."""
        data = self._call("/api/v1/query", {"query": promql, "time": f"{time:.3f}"})
        return _matrix(data)

    def query_range(
        self, promql: str, start: float, end: float, step: float
    ) -> Matrix:
        data = self._call("/api/v1/query_range", {
            "query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}",
            "step": f"{step:.3f}",
        })
        return _matrix(data)

    def series_exists(self, metric: str, start: float, end: float) -> bool:
        data = self._call("/api/v1/series", {
            "match[]": metric, "start": f"{start:.3f}", "end": f"{end:.3f}",
        })
        return bool(data)

    def metric_names(self) -> list[str]:
        data = self._call("/api/v1/label/__name__/values", {})
        return [str(name) for name in data or []]

    def label_values(self, label: str, metric: str, start: float,
                     end: float) -> set[str]:
        data = self._call(f"/api/v1/label/{label}/values", {
            "match[]": metric, "start": f"{start:.3f}", "end": f"{end:.3f}",
        })
        return {str(value) for value in data or []}


def _api_error(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.load(exc).get("error", exc.reason))
    except (ValueError, AttributeError, OSError):
        return str(exc.reason)


def _matrix(data: Any) -> Matrix:
    return [
        (item["metric"], [(float(t), float(v)) for t, v in item["values"]])
        for item in _result(data, "matrix")
    ]


def _result(data: Any, kind: str) -> list[Any]:
    if not isinstance(data, dict) or data.get("resultType") != kind:
        raise ReportError(f"Prometheus answered without a {kind} result")
    return list(data.get("result") or [])


def label_matchers(services: list[str]) -> str:
    if not services:
        return ""
    pattern = "|".join(_regex_escape(name) for name in services)
    return f'service=~"{_string_escape(pattern)}"'


def _regex_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in r"\.+*?()|[]{}^$" else c for c in text)


def _string_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def endpoint_matchers(keys: list[EndpointKey]) -> list[str]:
    """Matchers that select exactly ``keys``, one per service and method.

    A regex on each label alone would also match pairings of them that
    are not in ``keys``; fixing service and method leaves only the route
    to alternate.
    """
    routes: dict[tuple[str, str], list[str]] = {}
    for service, method, route in sorted(keys):
        routes.setdefault((service, method), []).append(route)
    return [
        f'service="{_string_escape(service)}",'
        f'method="{_string_escape(method)}",'
        f'route=~"{_string_escape("|".join(map(_regex_escape, names)))}"'
        for (service, method), names in routes.items()
    ]


def _selector(metric: str, *matchers: str) -> str:
    inner = ",".join(m for m in matchers if m)
    return f"{metric}{{{inner}}}" if inner else metric


@dataclasses.dataclass(frozen=True)
class Piece:
    """Part of a target's range with one collector process.

    ``matchers`` select the target, ``first``/``last`` bound the piece and
    ``from_start`` says whether its counters were running at ``first``.
    """

    matchers: str
    first: float
    last: float
    from_start: bool


def exact_increase(
    metric: str, by: str, seconds: float, matchers: str, irregular: str = "",
) -> str:
    """PromQL for the exact increase of ``metric`` over the last range.

    ``irregular`` is an expression (with its ``on`` clause) for the
    targets left out, because they restarted or stopped inside the range.
    """
    window = promql_duration(seconds)
    series = _selector(metric, matchers)
    increase = f"(({series} - {series} offset {window}) >= 0) or {series}"
    if irregular:
        increase = f"({increase}) unless {irregular}"
    return f"sum by ({by}) ({increase})"


def piece_increase(metric: str, by: str, matchers: str, piece: Piece) -> str:
    """PromQL, evaluated at ``piece.last``, for the increase in a piece."""
    window = promql_duration(piece.last - piece.first)
    series = _selector(metric, matchers, piece.matchers)
    last = f"last_over_time({series}[{window}])"
    if not piece.from_start:
        return f"sum by ({by}) ({last})"
    return (f"sum by ({by}) ((({last} - {series} offset {window}) >= 0)"
            f" or {last})")


def irregular_query(seconds: float) -> str:
    """PromQL for the targets that restarted or stopped in the range.

    Not ``changes()``, which counts float noise in a start time as a
    restart (see ``SAME_START``).
    """
    window = promql_duration(seconds)
    spread = (f"max_over_time({START_TIME}[{window}])"
              f" - min_over_time({START_TIME}[{window}])")
    return (
        f"(({spread}) > {SAME_START:g})"
        f" or (last_over_time({START_TIME}[{window}]) unless {START_TIME})"
    )


def target_matchers(labels: dict[str, str]) -> str:
    """Equality matchers for every label of a target's series."""
    return ",".join(
        f'{name}="{_string_escape(value)}"'
        for name, value in sorted(labels.items()) if name != "__name__"
    )


def pieces(
    target: dict[str, str], history: list[tuple[float, float]],
    start: float, end: float,
) -> list[Piece]:
    """A target's range cut where its process start time changed.

    ``history`` is the target's ``process_start_time_seconds`` samples.
    The cut goes just before the first scrape of the new process rather
    than at the start time it reports, which /proc gives to the second:
    every scrape of the old process is before the cut, every one of the
    new process after it.
    """
    matchers = target_matchers(target)
    # Stale markers (NaN, written when a scrape fails) are no new process.
    ordered = sorted(point for point in history if math.isfinite(point[1]))
    cuts = [
        moment - CUT_BEFORE
        for (_, before), (moment, value) in itertools.pairwise(ordered)
        if abs(value - before) > SAME_START
        and start < moment - CUT_BEFORE < end
    ]
    bounds = [start, *cuts, end]
    return [
        Piece(matchers, first, last, from_start=index == 0)
        for index, (first, last) in enumerate(itertools.pairwise(bounds))
    ]


class PrometheusSource:
    """Collects a RawData from Prometheus with a few parallel queries."""

    def __init__(
        self, client: PrometheusClient, services: list[str],
        scrape_interval: float = 15.0, parallel: int = 4,
    ) -> None:
        self.client = client
        self.scrape_interval = scrape_interval
        self.services = services
        self.matchers = label_matchers(services)
        self.parallel = parallel

    def fetch(
        self, start: float, end: float, step: float,
        progress: Progress | None = None, graphs: int = 0,
    ) -> RawData:
        """The totals, busy time per step, and the per-step requests and
        buckets of the ``graphs`` busiest endpoints, the ones the HTML
        report draws.

        Those are chosen from the totals first: a week of every
        endpoint's per-step buckets costs far more than the totals.
        """
        self._check_metric(start, end)
        seconds = end - start
        irregular, cut = self._irregular_targets(start, end)
        times = _step_times(start, end, step)
        raw = RawData(
            source=f"Prometheus {self.client.url}", start=start, end=end,
            step=step, times=times, totals={}, steps={},
        )
        raw.notes += self._blind_targets(end)
        jobs = self._total_jobs(raw, seconds, irregular, cut)
        present: set[int] = set()
        jobs += self._step_jobs(raw, [self._busy_query(raw, present)])
        jobs.append(self._exemplar_job(raw))
        # The later queries are counted ahead so the bar does not run full
        # twice; fewer endpoints than ``graphs`` means fewer queries.
        batches = math.ceil(max(graphs, 0) / GRAPH_BATCH)
        planned = 2 + 2 * batches * len(list(_chunks(raw.times, raw.step)))
        self._run(jobs, progress, 0, len(jobs) + planned)
        drawn = busiest(raw.totals)[:max(graphs, 0)]
        later = self._coverage_jobs(raw, present)
        later += self._step_jobs(raw, self._graph_queries(raw, drawn))
        self._run(later, progress, len(jobs), len(jobs) + len(later))
        return raw

    def _coverage_jobs(self, raw: RawData, present: set[int]) -> list[Fetch]:
        """Jobs finding the first and last sample of the data.

        The steps with busy time bound them, so the search reads only the
        samples near the first and the last of those steps.  Instant
        queries, since VictoriaMetrics leaves the last 30 s out of range
        queries, and a fresh collector's data may be all in them.
        """
        window = max(raw.step, 4 * self.scrape_interval)
        series = _selector(f"{DURATION}_count", self.matchers)
        head = tail = (raw.start, raw.end)
        if present:
            first, last = raw.times[min(present)], raw.times[max(present)]
            head = (max(raw.start, first - window - raw.step), first)
            tail = (max(raw.start, last - window),
                    min(raw.end, last + raw.step))

        def first_sample() -> Merge:
            found = self._first_sample(series, raw, head)
            return lambda: setattr(raw, "data_start", found)

        def last_sample() -> Merge:
            found = self._last_sample(series, raw, tail)
            return lambda: setattr(raw, "data_end", found)

        return [first_sample, last_sample]

    def _first_sample(self, series: str, raw: RawData,
                      span: tuple[float, float]) -> float | None:
        """The range start when data runs into it, else the first sample
        in ``span`` (the whole range when none is there), to a second or
        1/COVERAGE_POINTS of the span, by bisection."""
        if self.client.query(f"count({series})", raw.start):
            return raw.start

        def any_by(first: float, moment: float) -> bool:
            window = promql_duration(moment - first)
            return bool(self.client.query(
                f"count(last_over_time({series}[{window}]))", moment))

        first, last = span
        if not any_by(first, last):
            first, last = raw.start, raw.end
            if not any_by(first, last):
                return None
        low, high = first, last
        resolution = max(MIN_RESOLUTION, (last - first) / COVERAGE_POINTS)
        while high - low > resolution:
            middle = (low + high) / 2
            if any_by(first, middle):
                high = middle
            else:
                low = middle
        return high

    def _last_sample(self, series: str, raw: RawData,
                     span: tuple[float, float]) -> float | None:
        """The last sample: at the range's end if the data runs up to it,
        else the newest in ``span``."""
        newest = f"max(timestamp({series}))"
        values = [value for _, value in self.client.query(newest, raw.end)]
        if not values:
            first, last = span
            resolution = max(MIN_RESOLUTION, (last - first) / COVERAGE_POINTS)
            # Evaluated at ``last`` and back from it, so it is not skipped.
            first = last - resolution * math.floor((last - first) / resolution)
            values = [value for _, points in self.client.query_range(
                newest, first, last, resolution) for _, value in points]
        finite = [value for value in values if math.isfinite(value)]
        return min(raw.end, max(finite)) if finite else None

    def _check_metric(self, start: float, end: float) -> None:
        count = f"{DURATION}_count"
        self._check_services(count, start, end)
        if self.client.series_exists(_selector(count, self.matchers), start, end):
            return
        if count in self.client.metric_names():
            ever = self.client.label_values("service", count, 0.0,
                                            max(end, wall_clock()))
            raise ReportError(
                f"no API requests recorded between {iso(start)} and "
                f"{iso(end)}; there are some at other times (services: "
                f"{', '.join(sorted(ever))})"
            )
        raise ReportError(
            f"metric {count} not found in Prometheus at {self.client.url}; "
            "is it scraping the collector?"
        )

    def _check_services(self, count: str, start: float, end: float) -> None:
        """Each --service exists in the range, or the error says whether
        it has data at other times or none at all."""
        if not self.services:
            return
        seen = self.client.label_values("service", count, start, end)
        for name in self.services:
            if name in seen:
                continue
            ever = self.client.label_values("service", count, 0.0,
                                            max(end, wall_clock()))
            if name in ever:
                raise ReportError(
                    f"service {name!r} has no API requests between "
                    f"{iso(start)} and {iso(end)}; it has some at other times")
            raise ReportError(
                f"--service {name}: no such service in Prometheus at "
                f"{self.client.url} (services: "
                f"{', '.join(sorted(ever)) or 'none'})")

    def _blind_targets(self, end: float) -> list[str]:
        """Notes for targets whose restarts cannot be seen."""
        query = (f"count by (instance) ({DURATION}_count) "
                 f"unless on (instance) {START_TIME}")
        return [
            f"no {START_TIME} for instance {labels.get('instance', '?')}: "
            "a collector restart there would go unseen and its totals "
            "could be short"
            for labels, _ in self.client.query(query, end)
        ]

    def _irregular_targets(
        self, start: float, end: float
    ) -> tuple[str, list[Piece]]:
        """The steady query's exclusion, and the pieces of the excluded."""
        seconds = end - start
        query = irregular_query(seconds)
        targets = [labels for labels, _ in self.client.query(query, end)]
        if not targets:
            return "", []
        window = promql_duration(seconds)
        cut: list[Piece] = []
        for target in targets:
            history = self.client.query_samples(
                f"{START_TIME}{{{target_matchers(target)}}}[{window}]", end)
            samples = [point for _, values in history for point in values]
            cut += pieces(target, samples, start, end)
        names = sorted({name for target in targets for name in target})
        return f"on ({', '.join(names)}) ({query})", cut

    def _total_jobs(
        self, raw: RawData, seconds: float, irregular: str, cut: list[Piece],
    ) -> list[Fetch]:
        totals: list[tuple[str, str, Callable[[Vector], None]]] = [
            (f"{DURATION}_count", f"{ENDPOINT}, status",
             lambda v: _totals_by_status(raw, v)),
            (f"{DURATION}_bucket", f"{ENDPOINT}, le",
             lambda v: _totals_buckets(raw, v)),
            (f"{DURATION}_sum", ENDPOINT,
             lambda v: _totals_field(raw, v, "busy_seconds")),
            (f"{REQUEST_SIZE}_sum", ENDPOINT,
             lambda v: _totals_field(raw, v, "bytes_in")),
            (f"{RESPONSE_SIZE}_sum", ENDPOINT,
             lambda v: _totals_field(raw, v, "bytes_out")),
            (EXCEPTIONS, ENDPOINT,
             lambda v: _totals_field(raw, v, "exceptions")),
            (DROPPED, "service", lambda v: _per_service(raw.dropped, v)),
            (OVERFLOW, "service", lambda v: _per_service(raw.overflow, v)),
            *(
                (name, "service, project", _per_project(raw, name))
                for name in projects.FIELDS
            ),
        ]
        jobs: list[Fetch] = []
        for metric, by, apply in totals:
            steady = exact_increase(metric, by, seconds, self.matchers,
                                    irregular)
            jobs.append(self._instant_job(steady, raw.end, apply))
            jobs += [
                self._instant_job(
                    piece_increase(metric, by, self.matchers, piece),
                    piece.last, apply)
                for piece in cut
            ]
        return jobs

    def _exemplar_job(self, raw: RawData) -> Fetch:
        promql = _selector(f"{DURATION}_bucket", self.matchers)

        def fetch() -> Merge:
            try:
                answer = self.client.query_exemplars(promql, raw.start,
                                                     raw.end)
                found = exemplars.slowest(answer)
            except ReportError:  # no exemplar storage on this engine
                return lambda: None

            def merge() -> None:
                # Engines without exemplar storage answer with none at all.
                raw.slowest = found or None

            return merge

        return fetch

    def _instant_job(
        self, promql: str, time: float, apply: Callable[[Vector], None]
    ) -> Fetch:
        def fetch() -> Merge:
            vector = self.client.query(promql, time)
            return lambda: apply(vector)

        return fetch

    def _window(self, raw: RawData) -> tuple[str, str]:
        """The increase() window and the factor that scales it to a step.

        increase() needs two samples in its window, so a step shorter than
        a few scrape intervals reads a longer window, scaled to one step.
        """
        seconds = max(raw.step, 4 * self.scrape_interval)
        scale = f"{raw.step / seconds:.6g} * " if seconds > raw.step else ""
        return promql_duration(seconds), scale

    def _busy_query(self, raw: RawData, present: set[int]) -> RangeQuery:
        """Busy seconds per step; ``present`` gets the steps with data."""
        window, scale = self._window(raw)

        def apply(matrix: Matrix) -> None:
            _steps_busy(raw, matrix)
            present.update(_index(raw, timestamp)
                           for _, values in matrix for timestamp, _ in values)

        return (f"{scale}sum by ({ENDPOINT}) (increase("
                f"{_selector(DURATION + '_sum', self.matchers)}[{window}]))",
                apply)

    def _step_jobs(
        self, raw: RawData, queries: list[RangeQuery]
    ) -> list[Fetch]:
        jobs: list[Fetch] = []
        for first, last in _chunks(raw.times, raw.step):
            for promql, apply in queries:
                jobs.append(_range_job(self.client, promql, first, last,
                                       raw.step, apply))
        return jobs

    def _graph_queries(
        self, raw: RawData, drawn: list[EndpointKey]
    ) -> list[RangeQuery]:
        """Per-step requests and buckets of the ``drawn`` endpoints only."""
        window, scale = self._window(raw)
        queries: list[RangeQuery] = []
        for index in range(0, len(drawn), GRAPH_BATCH):
            matchers = endpoint_matchers(drawn[index:index + GRAPH_BATCH])
            queries += [
                (scale + _sum_of_increases(
                    f"{DURATION}_count", f"{ENDPOINT}, status", matchers,
                    window), lambda m: _steps_by_status(raw, m)),
                (scale + _sum_of_increases(
                    f"{DURATION}_bucket", f"{ENDPOINT}, le", matchers,
                    window), lambda m: _steps_buckets(raw, m)),
            ]
        return queries

    def _run(self, jobs: list[Fetch], progress: Progress | None,
             done: int, total: int) -> None:
        """Run ``jobs``; the bar counts on from ``done`` of ``total``."""
        with concurrent.futures.ThreadPoolExecutor(self.parallel) as pool:
            futures = [pool.submit(job) for job in jobs]
            try:
                for count, future in enumerate(
                    concurrent.futures.as_completed(futures), start=done + 1
                ):
                    future.result()()
                    if progress is not None:
                        progress(count, total)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise


def _sum_of_increases(
    metric: str, by: str, matchers: list[str], window: str
) -> str:
    """PromQL summing ``metric``'s increase over the series of any of
    ``matchers`` (disjoint, so ``or`` only joins them)."""
    series = " or ".join(
        f"increase({_selector(metric, m)}[{window}])" for m in matchers)
    return f"sum by ({by}) ({series})"


def _range_job(
    client: PrometheusClient, promql: str, first: float, last: float,
    step: float, apply: Callable[[Matrix], None],
) -> Fetch:
    def fetch() -> Merge:
        matrix = client.query_range(promql, first, last, step)
        return lambda: apply(matrix)

    return fetch


def _step_times(start: float, end: float, step: float) -> list[float]:
    count = max(1, math.floor((end - start) / step + 1e-9))
    return [start + step * (index + 1) for index in range(count)]


def _chunks(times: list[float], step: float) -> Iterator[tuple[float, float]]:
    """Consecutive (first, last) spans of at most 1/8 of the steps each."""
    size = max(1, min(MAX_POINTS - 1, math.ceil(len(times) / 8)))
    for index in range(0, len(times), size):
        span = times[index:index + size]
        yield span[0], span[-1]


def _key(labels: dict[str, str]) -> EndpointKey:
    return (labels.get("service", ""), labels.get("method", ""),
            labels.get("route", ""))


def _totals_for(raw: RawData, labels: dict[str, str]) -> EndpointTotals:
    key = _key(labels)
    totals = raw.totals.get(key)
    if totals is None:
        totals = raw.totals[key] = EndpointTotals()
    return totals


def _clean(value: float) -> float:
    return 0.0 if math.isnan(value) else value


def _totals_by_status(raw: RawData, vector: Vector) -> None:
    for labels, value in vector:
        status = labels.get("status", "")
        _totals_for(raw, labels).requests_by_status[status] += _clean(value)


def _totals_buckets(raw: RawData, vector: Vector) -> None:
    for labels, value in vector:
        le = float(labels.get("le", "+Inf"))
        _totals_for(raw, labels).buckets[le] += _clean(value)


def _totals_field(raw: RawData, vector: Vector, field: str) -> None:
    for labels, value in vector:
        totals = _totals_for(raw, labels)
        setattr(totals, field, getattr(totals, field) + _clean(value))


def _per_service(target: dict[str, float], vector: Vector) -> None:
    for labels, value in vector:
        amount = _clean(value)
        if amount:  # the collector exposes these counters at 0 from the start
            service = labels.get("service", "")
            target[service] = target.get(service, 0.0) + amount


def _per_project(raw: RawData, name: str) -> Callable[[Vector], None]:
    def apply(vector: Vector) -> None:
        for labels, value in vector:
            projects.add(raw.projects, name, labels, _clean(value))

    return apply


def _index(raw: RawData, timestamp: float) -> int:
    """The step a range query's point belongs to, clamped to the steps."""
    index = round((timestamp - raw.start) / raw.step) - 1
    return min(max(index, 0), len(raw.times) - 1)


def _add_points(raw: RawData, values: list[tuple[float, float]],
                *rows: list[float]) -> None:
    """Add a series' per-step values into ``rows``.

    A week of graphs is millions of points, so this loop is kept bare: the
    rows are found once per series, not once per point.
    """
    start, step, count = raw.start, raw.step, len(raw.times)
    for timestamp, value in values:
        index = round((timestamp - start) / step) - 1
        if 0 <= index < count and value == value:  # NaN != NaN
            for row in rows:
                row[index] += value


def _steps_by_status(raw: RawData, matrix: Matrix) -> None:
    for labels, values in matrix:
        steps = raw.steps_for(_key(labels))
        kind = status_class(labels.get("status", ""))
        rows = [steps.requests]
        if kind == "4xx":
            rows.append(steps.client_errors)
        elif kind == "5xx":
            rows.append(steps.server_errors)
        _add_points(raw, values, *rows)


def _steps_buckets(raw: RawData, matrix: Matrix) -> None:
    for labels, values in matrix:
        le = float(labels.get("le", "+Inf"))
        _add_points(raw, values, raw.steps_for(_key(labels)).bucket_row(le))


def _steps_busy(raw: RawData, matrix: Matrix) -> None:
    for labels, values in matrix:
        _add_points(raw, values, raw.steps_for(_key(labels)).busy_seconds)
