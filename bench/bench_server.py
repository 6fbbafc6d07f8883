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

"""The filter under a real server: gunicorn sync workers driven by wrk.

Two applications, one after the other: the real Placement from PyPI on
SQLite (``placement``: what an operator runs, GET of a resource provider
by id), and the nova-shaped Routes app of bench_apps (``routes``: nothing
but routing, so the worst case for any per-request cost).  Each is served
by three gunicorn servers (``-w 4`` sync workers): bare, with the filter
delivering to a real collector, and with prometheus_client in
multiprocess mode.  wrk sends requests with a fresh (routes) or random
(placement) id to one server at a time, the servers taking turns round
after round (the order rotating), after one warm-up round each.  Each round
records requests per second and the CPU time the workers spent per request
(from /proc, steadier than req/s on a shared machine), and how much of it
went to threads other than the main ones (the filter's flusher thread,
which encodes and sends the samples), and, over the whole run, the
collector's CPU per request the filter sent; ratios to bare and added CPU
are taken round by round, then their median.  At the end every request must
have been counted: by the collector for the filter, in the multiprocess
files for prometheus_client (wrk does not count the requests in flight when
it stops, so up to one per connection and round more are counted than wrk
reports).

    .venv/bin/python bench/bench_server.py [--apps placement routes]
        [--rounds R] [--seconds S] [--flush-interval SECONDS] [--idle-thread]
        [--floor]

``--floor`` also serves the app behind a middleware that only calls it,
and behind the least a measuring middleware can do (server_apps.py): how
much of the filter's cost any Python layer would pay on that app.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
import contextlib
import os
from pathlib import Path
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import server_apps

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from oslo_metrics_middleware.collector.process import CollectorProcess  # noqa: E402
from tests.functional import servers  # noqa: E402
from tests.functional.apps import placement_app  # noqa: E402

VARIANTS = ("bare", "filtered", "prometheus")
APPS = ("placement", "routes")
WORKERS = 4
# Fresh ids without costing wrk much: a counter per connection thread.
ROUTES_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", string.format(
    "/v2.1/servers/%08x-0000-4000-8000-%012x", math.random(0, 2147483647), counter))
end
"""
# A resource provider picked at random among those the database holds.
PLACEMENT_SCRIPT = """
ids = {{{ids}}}
headers = {{["X-Auth-Token"] = "admin"}}
request = function()
  return wrk.format("GET", "/resource_providers/" .. ids[math.random(#ids)],
                    headers)
end
"""
PROVIDERS = 200
GUNICORN_HOOKS = """
from prometheus_client import multiprocess

def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)
"""


def cpu_ns(pid: int) -> int:
    """Nanoseconds all threads of process ``pid`` have run, from the
    scheduler's own count: utime and stime in /proc/<pid>/stat are
    sampled at each timer tick, which charges a whole tick to a thread a
    timer woke just then, such as the filter's flusher thread."""
    return sum(
        task_ns(pid, int(task.name)) for task in Path(f"/proc/{pid}/task").iterdir()
    )


def task_ns(pid: int, task: int) -> int:
    """Nanoseconds thread ``task`` of process ``pid`` has run."""
    with contextlib.suppress(OSError):
        return int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
    return 0  # gone


def workers_of(master: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == master:
                found.append(int(stat.parent.name))
    return found


def workers_cpu(master: int) -> tuple[int, int]:
    """Nanoseconds the workers ran: all their threads, and their main
    threads alone (the rest is the filter's flusher threads)."""
    total = main = 0
    for pid in workers_of(master):
        with contextlib.suppress(OSError):
            total += cpu_ns(pid)
            main += task_ns(pid, pid)
    return total, main


def run_wrk(port: int, seconds: int, script: Path, connections: int) -> int:
    """Requests wrk completed; non-2xx answers or socket errors fail."""
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    match = re.search(r"(\d+) requests in", out)
    if match is None:
        raise SystemExit(f"no request count from wrk:\n{out}")
    return int(match.group(1))


def placement_database(workdir: Path) -> tuple[dict[str, str], str]:
    """A Placement database holding PROVIDERS resource providers.

    Returns the servers' environment and the wrk script that asks for
    those providers.
    """
    import uuid

    import webob

    config_file = placement_app.write_config(workdir)
    app = placement_app.build(config_file)
    ids = [str(uuid.uuid4()) for _ in range(PROVIDERS)]
    for number, provider in enumerate(ids):
        request = webob.Request.blank(
            "/resource_providers",
            method="POST",
            headers={"X-Auth-Token": "admin", "Content-Type": "application/json"},
            json={"name": f"compute-{number}", "uuid": provider},
        )
        status = request.get_response(app).status_int
        if status != 201:
            raise SystemExit(f"placement answered {status} creating a provider")
    script = PLACEMENT_SCRIPT.format(ids=", ".join(f'"{i}"' for i in ids))
    return {server_apps.PLACEMENT_CONFIG_ENV: str(config_file)}, script


@contextlib.contextmanager
def started(
    app: str,
    variants: tuple[str, ...],
    workdir: Path,
    env: dict[str, str],
    filter_env: dict[str, str],
) -> Iterator[dict[str, servers.ServerProcess]]:
    multiproc = workdir / "prometheus"
    multiproc.mkdir()
    hooks = workdir / "gunicorn_hooks.py"
    hooks.write_text(GUNICORN_HOOKS)
    bench_dir = ("--pythonpath", str(REPO / "bench"))
    envs = {
        "filtered": {**env, **filter_env},
        "prometheus": {**env, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)},
    }
    procs = {
        name: servers.gunicorn_server(
            workdir,
            envs.get(name, env),
            workers=WORKERS,
            app=f"server_apps:{app}_{name}",
            extra=(*bench_dir, *(("-c", str(hooks)) if name == "prometheus" else ())),
            # Each worker opens its own database connections.
            preload=app != "placement",
        )
        for name in variants
    }
    with contextlib.ExitStack() as stack:
        for proc in procs.values():
            stack.enter_context(proc)
        yield procs


def prometheus_count(multiproc: Path) -> int:
    from prometheus_client import CollectorRegistry
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, str(multiproc))
    return int(
        sum(
            sample.value
            for family in registry.collect()
            for sample in family.samples
            # Not the servers' readiness probes, which the filter excludes.
            if sample.name == "api_requests_total"
            and sample.labels["route"] not in ("", "/healthcheck")
        )
    )


def _spread(values: list[float], form: str) -> str:
    return (
        f"{statistics.median(values):{form}} "
        f"[{min(values):{form}}-{max(values):{form}}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", nargs="+", choices=APPS, default=list(APPS))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=WORKERS)
    parser.add_argument(
        "--flush-interval", type=float, help="the filter's (default: its default)"
    )
    parser.add_argument(
        "--idle-thread",
        action="store_true",
        help="also serve the bare app with one idle thread in each worker: "
        "what a second thread costs a process, as the flusher thread does",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also serve the app behind a pass-through middleware and behind "
        "a minimal measuring one: the floor of any Python middleware",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian package wrk)")
    print(
        f"gunicorn -w {WORKERS} sync, wrk -t1 -c{args.connections}, "
        f"{args.rounds} rounds x {args.seconds:g} s per server, order rotating; "
        f"median [min-max]; {os.cpu_count()} CPUs"
    )
    for app in args.apps:
        with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
            run_app(app, Path(tmp), args)


def run_app(app: str, workdir: Path, args: argparse.Namespace) -> None:
    """Serve ``app`` bare, filtered and with prometheus_client, in turns."""
    variants = VARIANTS
    if args.idle_thread:
        variants += ("thread",)
    if args.floor:
        variants += ("passthrough", "minimal")
    rates: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    threads: dict[str, list[float]] = {name: [] for name in variants}
    served = dict.fromkeys(variants, 0)
    env, script_text = (
        placement_database(workdir) if app == "placement" else ({}, ROUTES_SCRIPT)
    )
    script = workdir / "requests.lua"
    script.write_text(script_text)
    load_before = os.getloadavg()[0]
    with (
        CollectorProcess(workdir) as collector,
        started(app, variants, workdir, env, filter_env(collector, args)) as procs,
    ):
        assert collector.process is not None
        collector_before = cpu_ns(collector.process.pid)
        # Warm-up: every worker has loaded its code and opened its files.
        for name in variants:
            served[name] += run_wrk(procs[name].port, 1, script, args.connections)
        for index in range(args.rounds):
            shift = index % len(variants)
            order = variants[shift:] + variants[:shift]
            for name in order:
                proc = procs[name]
                assert proc.process is not None
                before, main_before = workers_cpu(proc.process.pid)
                count = run_wrk(proc.port, args.seconds, script, args.connections)
                after, main_after = workers_cpu(proc.process.pid)
                served[name] += count
                rates[name].append(count / args.seconds)
                cpu[name].append((after - before) / count / 1e3)
                other = (after - before) - (main_after - main_before)
                threads[name].append(other / count / 1e3)
        counted = _collector_count(collector, served["filtered"])
        collector_cpu = (cpu_ns(collector.process.pid) - collector_before) / 1e9
        prometheus = prometheus_count(workdir / "prometheus")
    print(
        f"\n[{app}] load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after"
    )
    for name in variants:
        ratio = [
            mine / bare for mine, bare in zip(rates[name], rates["bare"], strict=True)
        ]
        added = [mine - bare for mine, bare in zip(cpu[name], cpu["bare"], strict=True)]
        print(
            f"  {name:11s} {_spread(rates[name], '5.0f')} req/s"
            f"  {_spread(ratio, '.3f')} of bare"
            f"  workers' CPU {_spread(cpu[name], '4.0f')} us/request,"
            f" added {_spread(added, '4.0f')},"
            f" other threads {_spread(threads[name], '4.1f')}"
        )
    for line in against_bare_and_prometheus(cpu):
        print(f"  {line}")
    print(
        f"  collector (one per host, outside the workers): "
        f"{collector_cpu / served['filtered'] * 1e6:.1f} us of CPU per request"
    )
    print(
        f"  filter: {served['filtered']} requests, {counted} counted by the "
        f"collector; prometheus_client: {served['prometheus']} requests, "
        f"{prometheus} counted"
    )
    # wrk leaves out what was in flight when it stopped: at most one
    # request per connection and round more reaches the server.
    slack = args.connections * (args.rounds + 1)
    for name, count in (("filtered", counted), ("prometheus", prometheus)):
        if not served[name] <= count <= served[name] + slack:
            raise SystemExit(f"{name}: {served[name]} served, {count} counted")


def against_bare_and_prometheus(cpu: dict[str, list[float]]) -> list[str]:
    """How the filter's workers' CPU compares, round by round.

    The CPU each adds to bare in the same round: the ratio of the
    medians, and in how many rounds the filter added less; and where the
    filter's median falls among bare's rounds.
    """
    filtered, bare = cpu["filtered"], cpu["bare"]
    added = [mine - base for mine, base in zip(filtered, bare, strict=True)]
    theirs = [mine - base for mine, base in zip(cpu["prometheus"], bare, strict=True)]
    lines = []
    less = sum(mine < other for mine, other in zip(added, theirs, strict=True))
    if statistics.median(theirs) > 0:
        ratio = statistics.median(added) / statistics.median(theirs)
        lines.append(
            f"filter's added CPU / prometheus_client's: {ratio:.2f} (medians),"
            f" less in {less} of {len(added)} rounds"
        )
    median = statistics.median(filtered)
    inside = "inside" if min(bare) <= median <= max(bare) else "outside"
    lines.append(
        f"filter's median {median:.0f} us/request, {inside} bare's rounds "
        f"({min(bare):.0f}-{max(bare):.0f})"
    )
    return lines


def filter_env(collector: CollectorProcess, args: argparse.Namespace) -> dict[str, str]:
    env = {server_apps.SOCKET_ENV: str(collector.socket_path)}
    if args.flush_interval is not None:
        env[server_apps.FLUSH_INTERVAL_ENV] = str(args.flush_interval)
    return env


def _collector_count(collector: CollectorProcess, expected: int) -> int:
    deadline = time.monotonic() + 30
    while True:
        count = int(
            sum(
                float(line.rsplit(" ", 1)[1])
                for line in collector.scrape().splitlines()
                if line.startswith("openstack_api_request_duration_seconds_count")
            )
        )
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.2)


if __name__ == "__main__":
    main()
