"""Benchmark: a report over 500 routes x 7 days at 1-minute resolution.

Writes synthetic OpenMetrics (the series the report reads, one sample per
minute per series, traffic with a daily cycle and weekly growth), turns it
into TSDB blocks with ``promtool tsdb create-blocks-from openmetrics``,
starts Prometheus on them on a free loopback port and times
``oslo-metrics-middleware report`` against it.

    .venv/bin/python bench/bench_report.py [--routes 500] [--days 7]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
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


def _wait_ready(url: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("Prometheus did not become ready")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--routes", type=int, default=500)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-report-"))
    workdir.mkdir(parents=True, exist_ok=True)
    end = (int(time.time()) // 3600 - 1) * 3600
    data = workdir / "data"
    if not data.exists():
        source = workdir / "series.om"
        began = time.monotonic()
        write_openmetrics(source, args.routes, args.days, end)
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
    end = int((workdir / "end").read_text())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = workdir / "prometheus.yml"
    config.write_text("global: {}\n")
    prometheus = subprocess.Popen(
        ["prometheus", f"--config.file={config}",
         f"--storage.tsdb.path={data}", f"--web.listen-address=127.0.0.1:{port}",
         "--storage.tsdb.retention.time=100y", "--log.level=warn"],
        stdin=subprocess.DEVNULL,
    )
    try:
        _wait_ready(url)
        command = [
            sys.executable, "-m", "oslo_metrics_middleware.cmd", "report",
            "--prometheus", url, "--end", str(end), "--since", f"{args.days}d",
            "--workers", "compute=16x4", "--format", "json",
            "--output", str(workdir / "report.json"), "--no-progress",
        ]
        for attempt in (1, 2):
            began = time.monotonic()
            subprocess.run(command, check=True)
            seconds = time.monotonic() - began
            print(f"run {attempt}: {seconds:.2f} s", flush=True)
        report = json.loads((workdir / "report.json").read_text())
        print(json.dumps({
            "routes": len(report["endpoints"]), "days": args.days,
            "seconds": round(seconds, 2),
            "capacity": report["capacity"][0],
        }, indent=2))
    finally:
        prometheus.terminate()
        prometheus.wait(30)
    if args.workdir is None:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
