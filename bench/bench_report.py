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

"""Benchmark: a report over 500 routes x 7 days at 1-minute resolution.

Writes synthetic OpenMetrics (the series the report reads, one sample per
minute per series, traffic with a daily cycle and weekly growth), turns it
into TSDB blocks with ``promtool tsdb create-blocks-from openmetrics``,
starts Prometheus on them on a free loopback port and times
``oslo-metrics-middleware report`` against it.  Then imports the same
blocks into a single-node VictoriaMetrics with ``vmctl prometheus`` and
times the same report against that.

    .venv/bin/python bench/bench_report.py [--routes 500] [--days 7] \
        [--engine prometheus] [--engine victoriametrics] [--format json]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from oslo_metrics_middleware.collector.openstack_api import DURATION_BUCKETS
from oslo_metrics_middleware.collector.process import free_port

DURATION = "openstack_api_request_duration_seconds"
STEP = 60


def _bucket_shares(mean: float) -> list[float]:
    """Cumulative share per bucket of an exponential latency of ``mean``."""
    return [1 - math.exp(-le / mean) for le in DURATION_BUCKETS] + [1.0]


def write_openmetrics(path: Path, routes: int, days: int, end: int) -> None:
    points = days * 86400 // STEP
    first = end - points * STEP
    bounds = [f"{le:g}" for le in DURATION_BUCKETS] + ["+Inf"]
    with open(path, "w") as out:
        for name in ("_bucket", "_count", "_sum"):
            out.write(f"# TYPE {DURATION}{name} counter\n")
            for route in range(routes):
                _route_series(out, name, route, bounds, first, points)
        for family in ("openstack_api_request_size_bytes_sum",
                       "openstack_api_response_size_bytes_sum"):
            out.write(f"# TYPE {family} counter\n")
            for route in range(routes):
                _size_series(out, family, route, first, points)
        out.write("# TYPE process_start_time_seconds gauge\n")
        for t in range(points):
            out.write(f'process_start_time_seconds{{instance="bench"}} '
                      f"{first} {first + t * STEP}\n")
        out.write("# EOF\n")


def _rate(route: int, minute: int) -> float:
    """Requests per minute: Zipf over routes, daily cycle, 5% weekly growth."""
    daily = 1 + 0.5 * math.sin(2 * math.pi * minute / 1440)
    growth = 1 + 0.05 * minute / (7 * 1440)
    return 600 / (route + 1) * daily * growth


def _labels(route: int) -> str:
    return (f'instance="bench",service="compute",method="GET",'
            f'route="/v2.1/resource{route}/{{id}}",status="200"')


def _route_series(out: object, name: str, route: int, bounds: list[str],
                  first: int, points: int) -> None:
    write = out.write  # type: ignore[attr-defined]
    mean = 0.02 * (1 + route % 7)
    shares = _bucket_shares(mean)
    labels = _labels(route)
    targets = (list(zip(bounds, shares, strict=True)) if name == "_bucket"
               else [(None, 1.0)])
    for le, share in targets:
        series = (f"{DURATION}{name}{{{labels}"
                  + (f',le="{le}"' if le else "") + "}")
        total = 0.0
        for minute in range(points):
            count = _rate(route, minute)
            total += count * (mean if name == "_sum" else share)
            write(f"{series} {total:.3f} {first + minute * STEP}\n")


def _size_series(out: object, family: str, route: int, first: int,
                 points: int) -> None:
    write = out.write  # type: ignore[attr-defined]
    series = f"{family}{{{_labels(route).rsplit(',', 1)[0]}}}"
    total = 0.0
    for minute in range(points):
        total += _rate(route, minute) * 512
        write(f"{series} {total:.0f} {first + minute * STEP}\n")


def _wait_ready(url: str, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{what} did not become ready")


def build_blocks(workdir: Path, routes: int, days: int) -> tuple[Path, int]:
    """The TSDB blocks (built once per workdir) and the end of their data."""
    end = (int(time.time()) // 3600 - 1) * 3600
    data = workdir / "data"
    if not data.exists():
        source = workdir / "series.om"
        began = time.monotonic()
        write_openmetrics(source, routes, days, end)
        print(f"wrote {source.stat().st_size / 1e9:.1f} GB of OpenMetrics "
              f"in {time.monotonic() - began:.0f} s", flush=True)
        began = time.monotonic()
        subprocess.run(["promtool", "tsdb", "create-blocks-from",
                        "openmetrics", "--quiet",
                        # one block for the week: promtool re-reads the
                        # whole input once per block
                        "--max-block-duration=486h", str(source), str(data)],
                       check=True)
        print(f"promtool built the blocks in {time.monotonic() - began:.0f} s",
              flush=True)
        source.unlink()
        (workdir / "end").write_text(str(end))
    return data, int((workdir / "end").read_text())


def serve_prometheus(workdir: Path, data: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = workdir / "prometheus.yml"
    config.write_text("global: {}\n")
    server = subprocess.Popen(
        ["prometheus", f"--config.file={config}",
         f"--storage.tsdb.path={data}", f"--web.listen-address=127.0.0.1:{port}",
         "--storage.tsdb.retention.time=100y", "--log.level=warn"],
        stdin=subprocess.DEVNULL,
    )
    _wait_ready(f"{url}/-/ready", "Prometheus")
    return url, server


def serve_victoriametrics(
    workdir: Path, data: Path
) -> tuple[str, subprocess.Popen[bytes]]:
    """VictoriaMetrics holding the blocks' samples, imported once."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    storage = workdir / "victoria-metrics"
    marker = workdir / "victoria-metrics.imported"
    server = subprocess.Popen(
        ["victoria-metrics", f"-storageDataPath={storage}",
         f"-httpListenAddr=127.0.0.1:{port}", "-retentionPeriod=100y",
         "-loggerLevel=ERROR"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    )
    _wait_ready(f"{url}/health", "VictoriaMetrics")
    if not marker.exists():
        began = time.monotonic()
        try:
            vmctl = ["vmctl", "prometheus", "-s", "--vm-disable-progress-bar",
                     "--prom-snapshot", str(data), "--vm-addr", url,
                     "--prom-concurrency=2"]
            # vmctl 1.79 fails without a terminal; script(1) gives it one.
            subprocess.run(
                ["script", "-qec", shlex.join(vmctl), "/dev/null"],
                check=True, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, timeout=3600)
            with urllib.request.urlopen(f"{url}/internal/force_flush"):
                pass
        except BaseException:
            server.terminate()
            server.wait(60)
            raise
        marker.touch()
        print(f"vmctl imported the blocks in {time.monotonic() - began:.0f} s",
              flush=True)
    return url, server


SERVERS = {"prometheus": serve_prometheus,
           "victoriametrics": serve_victoriametrics}


def time_report(url: str, end: int, days: int, output: Path,
                fmt: str) -> float:
    """Seconds of the second of two runs (the first warms the caches)."""
    command = [
        sys.executable, "-m", "oslo_metrics_middleware.cmd", "report",
        "--prometheus", url, "--end", str(end), "--since", f"{days}d",
        "--workers", "compute=16x4", "--format", fmt,
        "--output", str(output), "--no-progress",
    ]
    seconds = 0.0
    for attempt in (1, 2):
        began = time.monotonic()
        subprocess.run(command, check=True)
        seconds = time.monotonic() - began
        print(f"run {attempt}: {seconds:.2f} s", flush=True)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--routes", type=int, default=500)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--engine", action="append", choices=sorted(SERVERS),
                        help="engine to time (repeatable; default: both)")
    parser.add_argument("--format", default="json",
                        choices=("json", "table", "html"))
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-report-"))
    workdir.mkdir(parents=True, exist_ok=True)
    data, end = build_blocks(workdir, args.routes, args.days)
    output = workdir / f"report.{args.format}"
    for engine in args.engine or sorted(SERVERS):
        url, server = SERVERS[engine](workdir, data)
        try:
            print(f"{engine}: report --format {args.format}", flush=True)
            seconds = time_report(url, end, args.days, output, args.format)
        finally:
            server.terminate()
            server.wait(60)
        if args.format == "json":
            report = json.loads(output.read_text())
            print(json.dumps({
                "engine": engine, "routes": len(report["endpoints"]),
                "days": args.days, "seconds": round(seconds, 2),
                "exact": report["exact"],
                "requests": sum(e["requests"] for e in report["endpoints"]),
            }, indent=2))
    if args.workdir is None:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
