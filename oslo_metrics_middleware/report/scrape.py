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

"""The embedded source: scrape collectors into a file, report from it.

The file is JSON Lines: a header, then one line per target per tick with
that target's API samples.  Each tick is reported as soon as it is
written, so an interrupted recording still leaves a usable file.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import dataclasses
import json
import math
from pathlib import Path
import sys
import time
from typing import Any
from typing import TextIO
import urllib.error
import urllib.request

from oslo_metrics_middleware.report import exposition
from oslo_metrics_middleware.report import projects
from oslo_metrics_middleware.report.model import EndpointKey
from oslo_metrics_middleware.report.model import EndpointSteps
from oslo_metrics_middleware.report.model import EndpointTotals
from oslo_metrics_middleware.report.model import RawData
from oslo_metrics_middleware.report.model import ReportError
from oslo_metrics_middleware.report.model import status_class

FORMAT = "oslo-metrics-middleware-scrapes"
DURATION = exposition.DURATION
REQUEST_SIZE_SUM = "openstack_api_request_size_bytes_sum"
RESPONSE_SIZE_SUM = "openstack_api_response_size_bytes_sum"
EXCEPTIONS = "openstack_api_exceptions_total"
DROPPED = "openstack_api_metrics_dropped_samples_total"
OVERFLOW = "openstack_api_metrics_route_overflow_total"

# The families read per endpoint, as the Prometheus source reads them.
ENDPOINT_METRICS = frozenset({
    f"{DURATION}_count", f"{DURATION}_bucket", f"{DURATION}_sum",
    REQUEST_SIZE_SUM, RESPONSE_SIZE_SUM, EXCEPTIONS,
})

Progress = Callable[[int, int], None]
SeriesId = tuple[str, tuple[tuple[str, str], ...]]


def scrape(url: str, timeout: float) -> tuple[set[str], list[exposition.Sample]]:
    """One target's API families and samples; ReportError when unreachable
    or garbled."""
    if not url.startswith(("http://", "https://")):
        raise ReportError(f"--scrape must be an http(s) URL: {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as page:  # noqa: S310
            text = page.read().decode("utf-8")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ReportError(f"cannot scrape {url}: {reason}") from None
    except UnicodeDecodeError:
        raise ReportError(f"malformed scrape from {url}: not UTF-8") from None
    try:
        return exposition.parse_page(text)
    except exposition.ExpositionError as exc:
        raise ReportError(f"malformed scrape from {url}: {exc}") from None


@dataclasses.dataclass(frozen=True)
class Store:
    """Where scrapes go: a new file, the end of a recording, or over one."""

    path: Path
    append: bool = False
    force: bool = False


def record(
    targets: list[str], interval: float, duration: float, store: Store,
    progress: Progress | None = None, timeout: float = 10.0,
) -> None:
    """Scrape every target each ``interval`` for ``duration`` into the store.

    A target failing its first scrape, or whose page has no API metrics,
    is an error at once; later failures are reported on stderr and that
    tick skipped, since one bad minute should not lose a day's recording.
    """
    ticks = max(1, math.floor(duration / interval + 1e-9)) + 1
    first = time.time()
    offset = _tick_offset(store, targets, interval, first)
    try:
        with open(store.path, "a" if store.append else "w",
                  encoding="utf-8") as out:
            if offset == 0:
                _write(out, {"format": FORMAT, "version": 1,
                             "targets": targets, "interval": interval})
            for tick in range(ticks):
                _sleep_until(first + tick * interval)
                _scrape_tick(out, targets, tick, offset,
                             first + tick * interval, timeout)
                if progress is not None:
                    progress(tick + 1, ticks)
    except OSError as exc:
        raise ReportError(f"cannot write {store.path}: {exc.strerror}") from None


def _tick_offset(
    store: Store, targets: list[str], interval: float, first: float
) -> int:
    """The first tick's number: 0 for a new file, after the last tick of
    the recording appended to (counted in intervals, so a gap shows)."""
    if not store.path.exists() or (store.force and not store.append):
        return 0
    if not store.append:
        raise ReportError(
            f"--store {store.path} exists: --append adds to it, --force "
            "overwrites it")
    header, records = _read(store.path)
    if header.get("targets") != targets or header.get("interval") != interval:
        raise ReportError(
            f"--append: {store.path} was recorded from "
            f"{', '.join(header.get('targets', []))} every "
            f"{header.get('interval')}s; append with the same --scrape and "
            "--interval")
    times = _tick_times(records)
    if not times:
        return 1
    last = max(times)
    return last + max(1, round((first - times[last]) / interval))


def _scrape_tick(
    out: TextIO, targets: list[str], tick: int, offset: int, when: float,
    timeout: float,
) -> None:
    for url in targets:
        try:
            families, samples = scrape(url, timeout)
        except ReportError as exc:
            if tick == 0:
                raise
            sys.stderr.write(f"warning: tick {tick} skipped: {exc}\n")
            continue
        if tick == 0 and DURATION not in families:
            raise ReportError(
                f"{url} has no {DURATION} metric: not an API metrics "
                "collector's /metrics page")
        _write(out, {"tick": tick + offset, "time": when, "target": url,
                     "samples": samples})
    out.flush()


def _write(out: TextIO, record: dict[str, Any]) -> None:
    out.write(json.dumps(record, separators=(",", ":")) + "\n")


def _sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)


def _read(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    try:
        with open(path, encoding="utf-8") as source:
            lines = [json.loads(line) for line in source if line.strip()]
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise ReportError(f"{path} is not a scrape file (bad JSON)") from None
    if not lines or not isinstance(lines[0], dict) or (
        lines[0].get("format") != FORMAT
    ):
        raise ReportError(f"{path} is not a scrape file written by report")
    return lines[0], lines[1:]


def load(path: Path, max_points: int = 240) -> RawData:
    """RawData from a scrape file, its steps merged to ``max_points``."""
    header, records = _read(path)
    interval = float(header.get("interval", 0) or 0)
    tick_times = _tick_times(records)
    if len(tick_times) < 2 or interval <= 0:
        raise ReportError(
            f"{path} holds fewer than two scrapes (empty range); "
            "record for longer than one interval"
        )
    first_tick = min(tick_times)
    group = max(1, math.ceil((len(tick_times) - 1) / max_points))
    steps = math.ceil((max(tick_times) - first_tick) / group)
    raw = RawData(
        source=f"scrapes of {', '.join(header.get('targets', []))}",
        start=tick_times[first_tick], end=tick_times[max(tick_times)],
        step=interval * group,
        times=[tick_times[first_tick] + interval * group * (i + 1)
               for i in range(steps)],
        totals={}, steps={},
    )
    for tick, name, labels, delta in _deltas(records, path):
        _apply(raw, (tick - first_tick - 1) // group, name, labels, delta)
    if not _has_duration(records):
        raise ReportError(f"metric {DURATION}_count not found in {path}")
    return raw


def _tick_times(records: list[dict[str, Any]]) -> dict[int, float]:
    return {int(r["tick"]): float(r["time"]) for r in records if "tick" in r}


def _has_duration(records: list[dict[str, Any]]) -> bool:
    return any(
        sample[0] == f"{DURATION}_count"
        for r in records for sample in r.get("samples", [])
    )


def _deltas(
    records: list[dict[str, Any]], path: Path
) -> Iterator[tuple[int, str, dict[str, str], float]]:
    """Counter increases per tick; a series born later counts from zero.

    Increases of zero are yielded too: a histogram's empty lowest buckets
    are what places its quantiles above them.
    """
    previous: dict[str, dict[SeriesId, float]] = {}
    try:
        for rec in sorted(records, key=lambda r: (r["tick"], r["target"])):
            target, tick = str(rec["target"]), int(rec["tick"])
            seen = previous.get(target)
            current: dict[SeriesId, float] = {}
            for name, labels, value in rec["samples"]:
                series: SeriesId = (name, tuple(sorted(labels.items())))
                current[series] = float(value)
                if seen is None:
                    continue  # this target's baseline
                before = seen.get(series, 0.0)
                delta = value - before if value >= before else value
                yield tick, name, labels, float(delta)
            previous[target] = {**(seen or {}), **current}
    except (KeyError, TypeError, ValueError):
        raise ReportError(f"{path} has a malformed scrape record") from None


def _apply(
    raw: RawData, index: int, name: str, labels: dict[str, str], delta: float
) -> None:
    service = labels.get("service", "")
    if name in (DROPPED, OVERFLOW):
        # The collector shows these at 0 from the start: a 0 is no event.
        counts = raw.dropped if name == DROPPED else raw.overflow
        if delta:
            counts[service] = counts.get(service, 0.0) + delta
        return
    if name in projects.FIELDS:
        projects.add(raw.projects, name, labels, delta)
        return
    if name not in ENDPOINT_METRICS:
        return  # the page's other API families are not in the report
    key: EndpointKey = (service, labels.get("method", ""),
                        labels.get("route", ""))
    totals = raw.totals.get(key)
    if totals is None:
        totals = raw.totals[key] = EndpointTotals()
    _apply_endpoint(totals, raw.steps_for(key), index, name, labels, delta)


def _apply_endpoint(
    totals: EndpointTotals, steps: EndpointSteps, index: int, name: str,
    labels: dict[str, str], delta: float,
) -> None:
    if name == f"{DURATION}_count":
        status = labels.get("status", "")
        totals.requests_by_status[status] += delta
        steps.requests[index] += delta
        kind = status_class(status)
        if kind == "4xx":
            steps.client_errors[index] += delta
        elif kind == "5xx":
            steps.server_errors[index] += delta
    elif name == f"{DURATION}_bucket":
        le = float(labels.get("le", "+Inf"))
        totals.buckets[le] += delta
        steps.bucket_row(le)[index] += delta
    elif name == f"{DURATION}_sum":
        totals.busy_seconds += delta
        steps.busy_seconds[index] += delta
    elif name == REQUEST_SIZE_SUM:
        totals.bytes_in += delta
    elif name == RESPONSE_SIZE_SUM:
        totals.bytes_out += delta
    elif name == EXCEPTIONS:
        totals.exceptions += delta
