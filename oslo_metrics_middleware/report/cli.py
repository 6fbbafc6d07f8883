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

"""``oslo-metrics-middleware report``: per-endpoint and capacity reports."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import math
from pathlib import Path
import sys
import time

from oslo_metrics_middleware.report import analysis
from oslo_metrics_middleware.report import capacity
from oslo_metrics_middleware.report import formats
from oslo_metrics_middleware.report.model import RawData
from oslo_metrics_middleware.report.model import ReportError
from oslo_metrics_middleware.report.progress import ProgressBar
from oslo_metrics_middleware.report.timeparse import iso
from oslo_metrics_middleware.report.timeparse import parse_duration
from oslo_metrics_middleware.report.timeparse import parse_instant

PROG = "oslo-metrics-middleware report"
FORMATS = ("table", "markdown", "json", "csv", "html")
GRAPH_POINTS = 240
MIN_STEP = 60.0


class UsageError(ReportError):
    """A bad option value; exit status 2 like argparse."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Per-endpoint latency, errors, busy time and capacity "
        "from a Prometheus server or from scrapes of the collectors.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--prometheus", metavar="URL",
                        help="Prometheus (or compatible) HTTP API base URL")
    source.add_argument("--scrape", metavar="URL", action="append",
                        help="a collector's /metrics URL to record "
                        "(repeat for several hosts)")
    source.add_argument("--from-file", metavar="FILE", type=Path,
                        help="report from a file recorded with --scrape")
    window = parser.add_argument_group("time range (Prometheus)")
    window.add_argument("--since", default="7d",
                        help="range ending at --end (default: %(default)s)")
    window.add_argument("--start", help="RFC 3339, Unix seconds or -7d")
    window.add_argument("--end", default="now",
                        help="RFC 3339, Unix seconds or now (default)")
    window.add_argument("--step", help="graph resolution (default: range/"
                        f"{GRAPH_POINTS}, at least {MIN_STEP:.0f}s)")
    window.add_argument("--scrape-interval", default="15s",
                        help="Prometheus' scrape interval; graph windows "
                        "span at least 4 of them (default: %(default)s)")
    record = parser.add_argument_group("recording (--scrape)")
    record.add_argument("--interval", default="15s",
                        help="time between scrapes (default: %(default)s)")
    record.add_argument("--duration", default="10m",
                        help="how long to record (default: %(default)s)")
    record.add_argument("--store", type=Path, default=Path("api-scrapes.jsonl"),
                        help="file for the scrapes, which must not exist "
                        "yet (default: %(default)s)")
    keep = record.add_mutually_exclusive_group()
    keep.add_argument("--append", action="store_true",
                      help="add the scrapes to an existing --store file "
                      "recorded with the same --scrape and --interval")
    keep.add_argument("--force", action="store_true",
                      help="overwrite an existing --store file")
    plan = parser.add_argument_group("capacity")
    plan.add_argument("--workers", action="append", default=[],
                      metavar="SERVICE=PxT",
                      help="API workers of a service: processes x threads, "
                      "e.g. compute=4x8 (repeatable)")
    plan.add_argument("--capacity-config", type=Path, metavar="FILE",
                      help="INI file with [workers] and [capacity]")
    plan.add_argument("--target-utilisation", type=float,
                      help="utilisation to stay under (default: "
                      f"{capacity.DEFAULT_TARGET})")
    out = parser.add_argument_group("output")
    out.add_argument("--format", choices=FORMATS, default="table")
    out.add_argument("--output", "-o", default="-",
                     help="file to write (default: stdout)")
    out.add_argument("--graph-limit", type=int, default=40,
                     help="endpoints with graphs in HTML, the busiest; "
                     "per-step data is read for these only (default: "
                     "%(default)s)")
    parser.add_argument("--service", action="append", default=[],
                        help="only this service (repeatable)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds per HTTP request (default: "
                        "%(default)s)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction,
                        default=None, help="progress bar on stderr "
                        "(default: when stderr is a terminal)")
    return parser


def _duration(option: str, text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None
    if seconds <= 0:
        raise UsageError(f"{option} must be positive: {text!r}")
    return seconds


def _settings(args: argparse.Namespace) -> capacity.CapacitySettings:
    settings = (capacity.load_settings(args.capacity_config)
                if args.capacity_config else capacity.CapacitySettings())
    for spec in args.workers:
        try:
            service, count = capacity.parse_workers(spec)
        except ValueError as exc:
            raise UsageError(f"--workers: {exc}") from None
        settings.workers[service] = count
        settings.given_in[service] = f"--workers {spec}"
    if args.target_utilisation is not None:
        settings.target_utilisation = args.target_utilisation
    if not 0 < settings.target_utilisation <= 1:
        raise UsageError("target utilisation must be in (0, 1]")
    return settings


def _time_range(args: argparse.Namespace) -> tuple[float, float]:
    now = time.time()
    try:
        end = parse_instant(args.end, now)
        start = (parse_instant(args.start, now) if args.start
                 else end - _duration("--since", args.since))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if start >= end:
        raise UsageError(
            f"empty time range: start {start:.0f} is not before end {end:.0f}"
        )
    return start, end


def _progress(args: argparse.Namespace, label: str) -> ProgressBar | None:
    wanted = args.progress
    if wanted is None:
        wanted = sys.stderr.isatty()
    return ProgressBar(label) if wanted else None


def _from_prometheus(args: argparse.Namespace) -> RawData:
    from oslo_metrics_middleware.report import prometheus

    start, end = _time_range(args)
    span = end - start
    step = (_duration("--step", args.step) if args.step
            else max(MIN_STEP, math.ceil(span / GRAPH_POINTS)))
    step = min(step, span)
    client = prometheus.PrometheusClient(args.prometheus, args.timeout)
    source = prometheus.PrometheusSource(
        client, args.service,
        _duration("--scrape-interval", args.scrape_interval),
    )
    bar = _progress(args, "querying")
    try:
        # Only the HTML page draws graphs, and only for --graph-limit.
        return source.fetch(start, end, step, bar, graphs=(
            args.graph_limit if args.format == "html" else 0))
    finally:
        if bar is not None:
            bar.finish()


def _from_scrapes(args: argparse.Namespace) -> RawData:
    from oslo_metrics_middleware.report import scrape

    interval = _duration("--interval", args.interval)
    duration = _duration("--duration", args.duration)
    bar = _progress(args, "scraping")
    try:
        store = scrape.Store(args.store, args.append, args.force)
        scrape.record(args.scrape, interval, duration, store, bar,
                      timeout=min(args.timeout, max(interval, 1.0)))
    finally:
        if bar is not None:
            bar.finish()
    return scrape.load(args.store, GRAPH_POINTS)


def _raw(args: argparse.Namespace) -> RawData:
    from oslo_metrics_middleware.report import scrape

    if args.prometheus:
        return _from_prometheus(args)
    if args.scrape:
        return _from_scrapes(args)
    return scrape.load(args.from_file, GRAPH_POINTS)


def _keep_services(raw: RawData, services: list[str]) -> None:
    """--service for file sources; Prometheus filters in the query."""
    known = {service for service, _, _ in raw.totals}
    for name in services:
        if name not in known:
            raise ReportError(
                f"--service {name}: no such service in {raw.source} "
                f"(services: {', '.join(sorted(known)) or 'none'})")
    if not services:
        return
    for mapping in (raw.totals, raw.steps):
        for key in [k for k in mapping if k[0] not in services]:
            del mapping[key]


def _check_traffic(raw: RawData) -> None:
    """An empty report says which services exist and had no requests."""
    if any(sum(t.requests_by_status.values()) for t in raw.totals.values()):
        return
    services = sorted({service for service, _, _ in raw.totals})
    raise ReportError(
        f"no API requests between {iso(raw.start)} and {iso(raw.end)} in "
        f"{raw.source}: service {', '.join(services)} exists but served "
        "none in that range"
    )


def render(report: analysis.Report, args: argparse.Namespace) -> str:
    if args.format == "html":
        from oslo_metrics_middleware.report import html_report

        return html_report.render(report, args.graph_limit)
    return formats.RENDERERS[args.format](report)


def _write(text: str, output: str) -> None:
    if output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write {output}: {exc.strerror}") from None


def run(args: argparse.Namespace) -> int:
    if args.graph_limit < 0:
        raise UsageError(f"--graph-limit must be 0 or more: {args.graph_limit}")
    settings = _settings(args)
    raw = _raw(args)
    _keep_services(raw, args.service)
    _check_traffic(raw)
    settings.check_services({service for service, _, _ in raw.totals},
                            set(settings.workers) - set(args.service)
                            if args.service else set())
    report = analysis.build(raw, settings)
    _write(render(report, args), args.output)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status: 0 done, 1 the report failed, 2 bad options."""
    try:
        args = build_parser().parse_args(argv)
        return run(args)
    except UsageError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2
    except ReportError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
