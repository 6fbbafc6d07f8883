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

The process first imports what an OpenStack API worker has loaded anyway
(oslo.config, oslo.middleware, WebOb, Routes) and builds a Routes app.
Then it imports the filter, wraps the app and sends requests that fill
every bounded cache: more distinct route shapes than max_routes, more
distinct raw paths than the caches keep, fresh ids throughout.  The
figures are the growth of the resident set (VmRSS) and of the memory
Python allocated (tracemalloc, in a second process), after the samples
were delivered, and again with the collector gone and the buffer full
(buffer_size samples held).

    .venv/bin/python bench/bench_memory.py [--requests N]
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import time
import tracemalloc
from typing import Any

import bench_apps
import oslo_config.cfg  # noqa: F401  (loaded by every API worker)
import oslo_middleware.base  # noqa: F401
import routes  # noqa: F401
import webob  # noqa: F401

MIB = 1024 * 1024


def resident() -> int:
    """VmRSS of this process, in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def paths(count: int) -> list[str]:
    """Routed requests with fresh ids, then shapes no router knows."""
    half = count // 2
    routed = [f"/servers/{bench_apps.fresh_id(index)}" for index in range(half)]
    junk = [
        f"/things{index % 3000}/{bench_apps.fresh_id(index)}/part{index}"
        for index in range(count - half)
    ]
    return routed + junk


def serve(app: Any, requests: list[str]) -> None:
    for path in requests:
        result = app(
            bench_apps.make_environ("/v2.1", path),
            lambda status, headers, exc_info=None: None,
        )
        for _chunk in result:
            pass


def settle(traced: bool) -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0] if traced else resident()


def growth(requests: list[str], socket_path: str, traced: bool) -> list[int]:
    """Bytes added by the filter: samples delivered, then a full buffer.

    ``traced``: Python's own allocations (tracemalloc), else VmRSS.
    """
    app = bench_apps.nova_like_routes()
    serve(app, requests)  # the router's own caches fill before measuring
    if traced:
        tracemalloc.start()
    before = settle(traced)
    from oslo_metrics_middleware import MetricsMiddleware
    from oslo_metrics_middleware import lifecycle

    conf = {"service_name": "compute", "metrics_socket_file": socket_path}
    filtered = MetricsMiddleware(app, conf)
    sender = lifecycle.get_sender(socket_path, 0, 0)
    for start in range(0, len(requests), 1000):
        serve(filtered, requests[start : start + 1000])
        while sender.held:
            sender.flush()
            time.sleep(0.01)
    steady = settle(traced)
    # A second filter whose daemon is gone: its buffer fills up.
    gone = MetricsMiddleware(app, {**conf, "metrics_socket_file": socket_path + "-"})
    serve(gone, requests[: lifecycle.get_sender(socket_path + "-", 0, 0).buffer_size])
    return [steady - before, settle(traced) - before]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40000)
    parser.add_argument("--socket", help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.socket:
        requests = paths(args.requests)
        print(*growth(requests, args.socket, args.traced))
        return
    # Each figure comes from a fresh process that has not loaded the filter
    # yet; Python's allocations are counted in a process of their own, as
    # tracing them adds bookkeeping to the resident set.
    from oslo_metrics_middleware.collector.process import CollectorProcess

    figures = []
    with CollectorProcess() as collector:
        for traced in ((), ("--traced",)):
            argv = [sys.executable, __file__, "--socket", str(collector.socket_path)]
            argv += ["--requests", str(args.requests), *traced]
            done = subprocess.run(argv, check=True, capture_output=True, text=True)
            figures.append([int(value) / MIB for value in done.stdout.split()])
    (steady, full), (traced_steady, traced_full) = figures
    print(
        f"{args.requests} requests; what the filter adds to one worker, in MiB\n"
        f"                                resident  Python objects\n"
        f"  samples delivered             {steady:6.2f}  {traced_steady:6.2f}\n"
        f"  daemon gone, buffer full      {full:6.2f}  {traced_full:6.2f}"
    )


if __name__ == "__main__":
    main()
