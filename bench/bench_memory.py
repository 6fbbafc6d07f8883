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

"""Resident memory the filter adds to one API worker.

Each round is a fresh process that first loads what an OpenStack API
worker has loaded anyway (oslo.config, oslo.middleware, WebOb, Routes),
builds the application (the nova-shaped Routes app under /v2.1, a plain
app elsewhere, as paste's urlmap would mount them), prepares every request
and serves them all once without the filter, so that neither the
router's caches nor the requests themselves count.  Then it takes four
steps, reading what the process holds after each:

* imported: the filter's modules are loaded;
* built: a filter is built, with an operator route table of ``templates``
  templates (2,000 by default, none with ``--templates 0``);
* delivered: requests fill every bounded structure (the ``max_routes``
  budget from the route table, more templates than it admits; the
  budget of guessed labels and the path cache from paths no router
  claims, ending with that cache full; fresh ids, request ids and
  project ids throughout), and the collector took every sample;
* buffer full: the collector's socket is gone and ``buffer_size``
  samples are held.

A reading is the resident set (VmRSS) after ``gc.collect()`` and
``malloc_trim(0)``, so that memory the C library could give back does not
count; Python's own allocations (tracemalloc) are read in a process of
their own, as tracing adds bookkeeping to the resident set.  Hash
randomisation is off in every round.  The figures are the growth over
the reading before the import, median and [min-max] of the rounds.

    .venv/bin/python bench/bench_memory.py [--templates N] [--rounds R]
        [--lines N]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Iterable
import ctypes
import gc
import itertools
import json
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from typing import Any

import bench_apps
import oslo_config.cfg  # noqa: F401  (loaded by every API worker)
import oslo_middleware.base  # noqa: F401
import routes  # noqa: F401
import webob  # noqa: F401

MIB = 1024 * 1024
STEPS = ("imported", "built", "delivered", "buffer full")
ROUTED_PREFIX = "/v2.1"
PROJECTS = 100
LIBC = ctypes.CDLL("libc.so.6")
# Hash randomisation off: every process lays out dicts and sets alike.
ENV = {**os.environ, "PYTHONHASHSEED": "0"}
# tracemalloc's snapshots at each reading, for --lines.
SNAPSHOTS: list[tracemalloc.Snapshot] = []

# SCRIPT_NAME, PATH_INFO, the request's id and its project's number.
Request = tuple[str, str, str, int]


def reading(traced: bool) -> list[int]:
    """Bytes held now: Python's allocations if ``traced``, else the
    resident set and its private part (VmRSS, RssAnon)."""
    gc.collect()
    LIBC.malloc_trim(0)
    if traced:
        SNAPSHOTS.append(tracemalloc.take_snapshot())
        return [tracemalloc.get_traced_memory()[0]]
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value
    return [int(fields[name].split()[0]) * 1024 for name in ("VmRSS", "RssAnon")]


def table_templates(count: int) -> list[str]:
    return [f"{ROUTED_PREFIX}/r{index}/{{id}}" for index in range(count)]


def requests(templates: int, count: int) -> list[Request]:
    """The requests of a run, in turn: the route table's templates, the
    Routes app's, paths no router claims."""
    kinds = 3 if templates else 2
    made: list[Request] = []
    for index in range(count):
        ident = bench_apps.fresh_id(index)
        kind = index % kinds + (0 if templates else 1)
        if kind == 0:
            made.append((ROUTED_PREFIX, f"/r{index % templates}/{ident}", ident, index))
        elif kind == 1:
            made.append((ROUTED_PREFIX, f"/servers/{ident}", ident, index))
        else:
            # A shape of its own each time (the last segment), so the path
            # cache of guessed labels fills; ids make no shape.
            shape = index // kinds
            path = f"/things{shape % 3000}/{ident}/part{shape}"
            made.append(("", path, ident, index))
    return made


def application() -> Callable[..., Iterable[bytes]]:
    """The Routes app under ROUTED_PREFIX, the plain app elsewhere."""
    routed = bench_apps.nova_like_routes()

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ["SCRIPT_NAME"] == ROUTED_PREFIX:
            return routed(environ, start_response)
        return bench_apps.trivial_app(environ, start_response)

    return app


def serve(app: Any, batch: list[Request]) -> None:
    for script_name, path, ident, number in batch:
        environ = bench_apps.make_environ(script_name, path)
        # Made afresh, as each request brings its own.
        environ["openstack.request_id"] = f"req-{ident}"
        environ["HTTP_X_PROJECT_ID"] = f"{number % PROJECTS:032x}"
        for _chunk in app(environ, lambda status, headers, exc_info=None: None):
            pass


def steps(args: argparse.Namespace) -> list[list[int]]:
    """What this process holds after each of STEPS, over what it held
    before: with the filter, or (``bare``) the same steps without it."""
    app = application()
    # Enough of the unclaimed paths to end with the path cache full: it
    # empties itself when it holds args.path_cache shapes.
    per_junk = 3 if args.templates else 2
    count = max(args.requests, args.path_cache * per_junk)
    count -= count % (args.path_cache * per_junk)
    batch = requests(args.templates, count)
    # Requests of the last cycle of the path cache, so that it stays full;
    # one more than the buffer holds.
    full = batch[-args.buffer_size - 1 :]
    if args.traced:
        tracemalloc.start()
    base = reading(args.traced)
    found = [base]
    if args.bare:
        found += [reading(args.traced), reading(args.traced)]
        serve(app, batch)
        found.append(reading(args.traced))
        serve(app, full)
        found.append(reading(args.traced))
    else:
        found += _filtered(app, batch, full, args)
        if args.lines:
            _print_lines(args.lines)
    return [
        [now - then for now, then in zip(step, base, strict=True)]
        for step in found[1:]
    ]


def _filtered(
    app: Any, batch: list[Request], full: list[Request], args: argparse.Namespace
) -> list[list[int]]:
    found = []
    from oslo_metrics_middleware import MetricsMiddleware
    from oslo_metrics_middleware import lifecycle

    found.append(reading(args.traced))
    conf = {
        "service_name": "compute",
        "metrics_socket_file": args.socket,
        "buffer_size": str(args.buffer_size),
    }
    if args.templates:
        conf["route_table_file"] = args.table
    filtered = MetricsMiddleware(app, conf)
    found.append(reading(args.traced))
    sender = lifecycle.get_sender(args.socket, 0, 0)
    for start in range(0, len(batch), 1000):
        serve(filtered, batch[start : start + 1000])
        _settle(sender, 0)
    found.append(reading(args.traced))
    # The collector goes away: its socket with it.
    os.rename(args.socket, args.socket + ".away")
    try:
        serve(filtered, full)
        _settle(sender, args.buffer_size)
        found.append(reading(args.traced))
    finally:
        os.rename(args.socket + ".away", args.socket)
    return found


def _print_lines(count: int) -> None:
    """The source lines whose allocations grew most at each step."""
    for step, (before, after) in zip(
        STEPS, itertools.pairwise(SNAPSHOTS), strict=True
    ):
        print(f"{step}:", file=sys.stderr)
        for stat in after.compare_to(before, "lineno")[:count]:
            frame = stat.traceback[0]
            print(
                f"  {stat.size_diff / 1024:8.1f} KiB {stat.count_diff:6d} blocks"
                f"  {frame.filename}:{frame.lineno}",
                file=sys.stderr,
            )


def _settle(sender: Any, held: int) -> None:
    """Wait until the sender holds ``held`` samples, all encoded."""
    deadline = time.monotonic() + 30
    while True:
        sender.flush()
        if sender.held == held and not sender._queue:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"the sender holds {sender.held}, not {held}")
        time.sleep(0.01)


def _spread(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{statistics.median(values):5.2f} [{low:4.2f}-{high:4.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=40000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--buffer-size", type=int, default=10000)
    parser.add_argument("--socket", help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--path-cache", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--lines",
        type=int,
        default=0,
        help="also print the N source lines whose allocations grew most at "
        "each step, in one more traced process with the filter (where the "
        "application's own growth, Routes' caches, shows too)",
    )
    args = parser.parse_args()
    if args.socket:
        print(json.dumps(steps(args)))
        return
    from oslo_metrics_middleware.collector.process import CollectorProcess

    # Per round, per step: VmRSS, RssAnon and Python objects added.
    rounds: list[list[list[float]]] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp,
        CollectorProcess() as collector,
    ):
        table = Path(tmp) / "routes.table"
        table.write_text("".join(f"{t}\n" for t in table_templates(args.templates)))
        argv = [sys.executable, __file__, "--socket", str(collector.socket_path)]
        argv += ["--table", str(table), "--templates", str(args.templates)]
        argv += ["--requests", str(args.requests)]
        argv += ["--buffer-size", str(args.buffer_size)]
        argv += ["--path-cache", str(path_cache_entries())]
        for _ in range(args.rounds):
            resident = _added(argv)
            python = _added([*argv, "--traced"])
            rounds.append([r + p for r, p in zip(resident, python, strict=True)])
        if args.lines:
            lines = subprocess.run(
                [*argv, "--traced", "--lines", str(args.lines)],
                check=True,
                capture_output=True,
                text=True,
                env=ENV,
            ).stderr
    print(
        f"route table of {args.templates} templates, buffer_size "
        f"{args.buffer_size}, {args.rounds} rounds; what the filter adds to "
        "one worker,\nin MiB, median [min-max]\n"
        "                 resident (VmRSS)  private (RssAnon)  Python objects"
    )
    for number, step in enumerate(STEPS):
        columns = zip(*(round_[number] for round_ in rounds), strict=True)
        print(f"  {step:12s}  " + "  ".join(_spread(list(c)) for c in columns))
    if args.lines:
        print(f"\nPython objects added at each step, by source line:\n{lines}", end="")


def path_cache_entries() -> int:
    """Shapes the cache of guessed labels holds at most: read here, as
    the processes measured must not load the filter before their first
    reading."""
    from oslo_metrics_middleware.routing import resolver

    return resolver.PATH_SHAPES


def _added(argv: list[str]) -> list[list[float]]:
    """Per step, what a process with the filter holds over one without."""
    found = []
    for variant in (["--bare"], []):
        done = subprocess.run(
            argv + variant, check=True, capture_output=True, text=True, env=ENV
        )
        found.append(json.loads(done.stdout))
    bare, filtered = found
    return [
        [(mine - theirs) / MIB for mine, theirs in zip(step, base, strict=True)]
        for step, base in zip(filtered, bare, strict=True)
    ]


if __name__ == "__main__":
    main()
