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

"""Per-request cost of the metrics filter against in-process prometheus_client.

Each case puts a real router (or none) behind three variants: the bare
application, in-process prometheus_client with the filter's four labels,
and the filter delivering to a real collector process (the Routes case
also has the least a measuring middleware does, and oslo.middleware's
statsd filter).  Requests carry a
fresh id each, so no cache sees a path twice.  Variants run interleaved,
in blocks of 100 requests, round after round; the cost of a round is the
CPU time of this process (all its threads, so the filter's flusher thread
is included) per request.
Every sample the filter takes is encoded inside the timed part of its round
and delivered before the next round starts; the run fails if the collector
did not count every one of them.

    .venv/bin/python bench/bench_filter.py [--requests N] [--rounds R]
    .venv/bin/python bench/bench_filter.py --instructions [--requests N] [--block N]

Figures are medians over rounds with [min-max].  Within a round a
variant's cost is the median of its blocks; "added" is the median of its
blocks' differences to the bare blocks beside them.  The ratio is the
filter's median added cost over prometheus_client's, the rounds' own ratios
shown beside it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Iterator
import dataclasses
import gc
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time
import types
from typing import Any

import bench_apps
from bench_apps import App
from bench_apps import PrometheusInProcess
from oslo_middleware.stats import StatsMiddleware

from oslo_metrics_middleware import MetricsMiddleware
from oslo_metrics_middleware import cmd
from oslo_metrics_middleware import lifecycle
from oslo_metrics_middleware import opts
from oslo_metrics_middleware import transport
from oslo_metrics_middleware.collector.process import CollectorProcess
from oslo_metrics_middleware.routing import flask as flask_routing

BARE = "bare"
PROM = "prometheus_client"
FILTER = "this filter"
STATSD = "oslo stats (statsd)"
MINIMAL = "minimal measure"
NO_PROJECT = "filter, no project"
# The variants whose samples the shared sender encodes: each flushes it at
# the end of its own blocks, so none pays for another's samples.
FILTERS = (FILTER, NO_PROJECT)
# The project keystonemiddleware's auth_token leaves in the environ.
PROJECT_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
# The flusher thread wakes as in service, at the option's default.
FLUSH_INTERVAL = next(
    opt.default for opt in opts.METRICS_OPTS if opt.name == "flush_interval"
)
# Requests a variant serves before the next one takes its turn.
BLOCK = 100
# Operator route tables of the "all in use" cases: does the cost grow
# with the number of routes?
FEW_ROUTES = 40
MANY_ROUTES = 2000

Environ = dict[str, Any]
PathMaker = Callable[[int], str]


# Paths no router names, each with a fresh id: cost must stay linear in
# the path's length.
NO_ROUTER_PATHS: list[tuple[str, PathMaker]] = [
    (
        "fallback, fresh id per request",
        lambda i: f"/v2.1/servers/{bench_apps.fresh_id(i)}/os-interface",
    ),
    (
        "2 kB path, 6 segments",
        lambda i: f"/v2.1/servers/{bench_apps.fresh_id(i)}/tags/" + "t" * 1990,
    ),
    (
        "2 kB path, 300 segments",
        lambda i: f"/v2.1/servers/{bench_apps.fresh_id(i)}" + "/ab1" * 296,
    ),
    (
        "8 kB path, 1200 segments",
        lambda i: f"/v2.1/servers/{bench_apps.fresh_id(i)}" + "/ab1" * 1196,
    ),
]


@dataclasses.dataclass
class Variant:
    app: App
    # Switches process-wide hooks of this variant on (True) and off (False).
    switch: Callable[[bool], None] | None = None


@dataclasses.dataclass
class Case:
    name: str
    script_name: str
    path: PathMaker
    variants: dict[str, Variant]
    method: str = "GET"
    body: bytes = b""
    headers: dict[str, Any] = dataclasses.field(default_factory=dict)

    def turns(self, block: int) -> list[str]:
        """The variants in the order they serve block number ``block``:
        rotated, so none always runs right after another's garbage."""
        names = list(self.variants)
        shift = block % len(names)
        return names[shift:] + names[:shift]

    def environs(self, count: int) -> list[Environ]:
        return [self.environ(index) for index in range(count)]

    def environ(self, index: int) -> Environ:
        return bench_apps.make_environ(
            self.script_name, self.path(index), self.method, self.body, self.headers
        )


def _start_response(
    status: str, headers: list[tuple[str, str]], exc_info: Any = None
) -> Callable[[bytes], None]:
    return lambda data: None


def run_block(app: App, environs: list[Environ], sender: Any) -> float:
    """CPU seconds of this process spent serving ``environs``.

    With a filter's ``sender``, its queue is flushed inside the timed part,
    so every sample taken is encoded (and sent if the socket takes it).
    """
    started = time.process_time()
    for environ in environs:
        result = app(environ, _start_response)
        for _chunk in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if sender is not None:
        sender.flush()
    return time.process_time() - started


def drain(sender: transport.DatagramSender, timeout: float = 120.0) -> None:
    """Wait, untimed, until the sender has handed every sample over."""
    deadline = time.monotonic() + timeout
    while sender.held:
        if time.monotonic() > deadline:
            raise SystemExit(f"collector did not take {sender.held} samples")
        time.sleep(0.005)
        sender.flush()


def build_cases(
    socket_path: str,
    flush_interval: float | None = None,
    only: tuple[str, ...] = (),
) -> list[Case]:
    """The cases, or those whose names hold one of the words in ``only``."""
    if flush_interval is None:
        flush_interval = FLUSH_INTERVAL
    cases = _all_cases(socket_path, flush_interval)
    if only:
        cases = [case for case in cases if any(word in case.name for word in only)]
        if not cases:
            raise SystemExit(f"no case named like {', '.join(only)}")
    return cases


def _all_cases(socket_path: str, flush_interval: float) -> list[Case]:
    conf = {
        "service_name": bench_apps.SERVICE,
        "metrics_socket_file": socket_path,
        # Room for a whole round: no sample is dropped at a full buffer.
        "buffer_size": "1000000",
        "flush_interval": str(flush_interval),
    }

    def three(
        bare: App,
        labelled: App,
        route_of: bench_apps.RouteOf,
        extra: dict[str, str] | None = None,
    ) -> dict[str, Variant]:
        return {
            BARE: Variant(bare),
            PROM: Variant(PrometheusInProcess(labelled, route_of)),
            FILTER: Variant(MetricsMiddleware(bare, {**conf, **(extra or {})})),
        }

    routed = bench_apps.nova_like_routes()
    routes_variants = three(routed, routed, bench_apps.route_from_routes)
    # The floor of any measuring middleware, for scale: see MinimalMeasure.
    routes_variants[MINIMAL] = Variant(
        bench_apps.MinimalMeasure(routed, bench_apps.route_from_routes)
    )
    routes_variants[STATSD] = Variant(
        StatsMiddleware(
            routed, {"name": "nova", "stats_host": "127.0.0.1", "remove_uuid": True}
        )
    )
    flask_switch = _flask_switch()
    flask_variants = three(
        bench_apps.flask_app(),
        bench_apps.flask_app(label=True),
        bench_apps.route_from_label,
    )
    for name, variant in flask_variants.items():
        variant.switch = flask_switch if name == FILTER else None
    nova_table = _route_table(
        f"/v2.1/{collection}{suffix}"
        for collection in bench_apps.NOVA_COLLECTIONS
        for suffix in ("", "/detail", "/{id}", "/{id}/action")
    )
    trivial = bench_apps.trivial_app
    from_path = bench_apps.route_from_path

    def all_in_use(templates: int, extra: dict[str, str]) -> Case:
        """A table of ``templates`` of one shape, requests spread over all
        of them: only the table's size differs between two such cases."""
        table = _route_table(f"/v2.1/r{index}/{{id}}" for index in range(templates))
        return Case(
            f"operator route table, {templates} templates, all in use",
            "",
            lambda i: f"/v2.1/r{i % templates}/{bench_apps.fresh_id(i)}",
            three(trivial, trivial, from_path, {"route_table_file": table, **extra}),
        )

    return [
        Case(
            "routes: nova-shaped Mapper under RoutesMiddleware",
            "/v2.1",
            lambda i: f"/servers/{bench_apps.fresh_id(i)}",
            routes_variants,
        ),
        Case(
            "placement: its own route table and dispatch",
            "/placement",
            lambda i: f"/resource_providers/{bench_apps.fresh_id(i)}",
            three(
                bench_apps.placement_app(),
                bench_apps.placement_app(label=True),
                bench_apps.route_from_label,
            ),
        ),
        Case(
            "flask: keystone-shaped rules",
            "",
            lambda i: f"/v3/users/{bench_apps.fresh_id(i).replace('-', '')}",
            flask_variants,
        ),
        Case(
            "pecan: neutron-shaped RestController",
            "",
            lambda i: f"/v2/networks/{bench_apps.fresh_id(i)}",
            three(
                bench_apps.pecan_app(),
                bench_apps.pecan_app(label=True),
                bench_apps.route_from_label,
            ),
        ),
        Case(
            "operator route table, 40 templates",
            "",
            lambda i: f"/v2.1/servers/{bench_apps.fresh_id(i)}",
            three(trivial, trivial, from_path, {"route_table_file": nova_table}),
        ),
        all_in_use(FEW_ROUTES, {}),
        all_in_use(MANY_ROUTES, {"max_routes": str(MANY_ROUTES)}),
        *(
            Case(f"no router: {name}", "", path, three(trivial, trivial, from_path))
            for name, path in NO_ROUTER_PATHS
        ),
        _action_case(conf),
        _project_case(conf),
    ]


def _project_case(conf: dict[str, str]) -> Case:
    """Behind auth_token: the filter with the project sent and without."""
    routed = bench_apps.nova_like_routes()
    return Case(
        "routes + project: X-Project-Id set by auth_token",
        "/v2.1",
        lambda i: f"/servers/{bench_apps.fresh_id(i)}",
        {
            BARE: Variant(routed),
            PROM: Variant(PrometheusInProcess(routed, bench_apps.route_from_routes)),
            FILTER: Variant(MetricsMiddleware(routed, conf)),
            NO_PROJECT: Variant(
                MetricsMiddleware(routed, {**conf, "project_attribution": "false"})
            ),
        },
        # What auth_token leaves for a validated token.
        headers={
            "HTTP_X_PROJECT_ID": PROJECT_ID,
            "HTTP_X_IDENTITY_STATUS": "Confirmed",
            "keystone.token_auth": types.SimpleNamespace(user=object()),
        },
    )


def _action_case(conf: dict[str, str]) -> Case:
    routed = bench_apps.nova_like_routes()
    labels = {"action_label": "true", "microversion_label": "true"}
    return Case(
        "routes + action & microversion labels: POST .../action",
        "/v2.1",
        lambda i: f"/servers/{bench_apps.fresh_id(i)}/action",
        {
            BARE: Variant(routed),
            PROM: Variant(
                bench_apps.ActionPrometheus(routed, bench_apps.route_from_routes)
            ),
            FILTER: Variant(MetricsMiddleware(routed, {**conf, **labels})),
        },
        method="POST",
        body=b'{"os-start": null}',
        headers={"HTTP_OPENSTACK_API_VERSION": "compute 2.79"},
    )


def _flask_switch() -> Callable[[bool], None]:
    """The filter's Flask receiver runs only while the filter's variant
    does, so the bare and baseline figures do not pay for it."""
    import flask

    def switch(on: bool) -> None:
        signal = flask.signals.request_started
        if on:
            signal.connect(flask_routing._remember_rule, weak=False)
        else:
            signal.disconnect(flask_routing._remember_rule)

    switch(False)
    return switch


def _route_table(templates: Iterator[str] | Any) -> str:
    handle, path = tempfile.mkstemp(suffix=".routes")
    os.close(handle)
    Path(path).write_text("".join(f"{template}\n" for template in templates))
    return path


Results = dict[tuple[str, str], list[float]]


def measure(
    cases: list[Case], requests: int, rounds: int, sender: Any
) -> tuple[Results, Results]:
    """Per round: each variant's cost, and what it adds to the bare app."""
    for case in cases:
        for name, variant in case.variants.items():
            _check_ok(case, name, variant)
    costs: Results = {}
    added: Results = {}
    for _round in range(rounds):
        for case in cases:
            blocks = run_round(case, requests, sender)
            for name, spent in blocks.items():
                key = (case.name, name)
                costs.setdefault(key, []).append(statistics.median(spent))
                pairs = zip(spent, blocks[BARE], strict=True)
                extra = statistics.median(mine - bare for mine, bare in pairs)
                added.setdefault(key, []).append(extra)
    return costs, added


def run_round(case: Case, requests: int, sender: Any) -> dict[str, list[float]]:
    """CPU seconds per request in each block of BLOCK, for each variant.

    The variants take turns block by block, in an order that rotates, so
    a neighbour's burst of load or a drift of the router's cost falls on
    all of them alike, and a variant's added cost is the median
    of its blocks' differences to the bare blocks beside them.  BLOCK is
    below the queue length at which the flusher thread wakes, so the
    filter's samples are encoded by the flush at the end of its own blocks.
    """
    environs = {name: case.environs(requests) for name in case.variants}
    spent: dict[str, list[float]] = {name: [] for name in case.variants}
    for start in range(0, requests, BLOCK):
        for name in case.turns(start // BLOCK):
            variant = case.variants[name]
            if variant.switch:
                variant.switch(True)
            block = environs[name][start : start + BLOCK]
            own_sender = sender if name in FILTERS else None
            seconds = run_block(variant.app, block, own_sender)
            spent[name].append(seconds / len(block))
            if variant.switch:
                variant.switch(False)
    drain(sender)
    return spent


def _check_ok(case: Case, name: str, variant: Variant) -> None:
    """A variant that does not answer 200 measures an error path."""
    statuses: list[str] = []
    environ = case.environ(0)
    result = variant.app(environ, lambda s, h, e=None: statuses.append(s))
    list(result)
    getattr(result, "close", lambda: None)()
    if statuses != ["200 OK"]:
        raise SystemExit(f"{case.name}, {name}: answered {statuses}")
    if isinstance(variant.app, MetricsMiddleware):
        # Every request carries an id: a label without a placeholder, or
        # __unmatched__, would measure the wrong path through the filter.
        label = variant.app.routes.resolve(environ, 200)
        if "{" not in label:
            raise SystemExit(f"{case.name}: the filter labels it {label}")


def _spread(
    values: list[float], scale: float = 1e6, style: str = ".2f", width: int = 6
) -> str:
    """Median [min-max] of ``values`` times ``scale``."""
    low, mid, high = (
        format(value * scale, style)
        for value in (min(values), statistics.median(values), max(values))
    )
    return f"{mid:>{width}} [{low} - {high}]"


def report(cases: list[Case], costs: Results, added: Results) -> None:
    summary = []
    for case in cases:
        print(f"\n[{case.name}]")
        for name in case.variants:
            line = f"  {name:20s} {_spread(costs[(case.name, name)])} us"
            if name != BARE:
                line += f"   added {_spread(added[(case.name, name)])} us"
            if name == FILTER:
                mine, theirs = added[(case.name, FILTER)], added[(case.name, PROM)]
                # The ratio of the two medians above, as for instructions:
                # a round's ratio divides by one noisy difference.
                ratio = statistics.median(mine) / statistics.median(theirs)
                rounds = [m / t for m, t in zip(mine, theirs, strict=True)]
                line += (
                    f"   {ratio:5.2f}x {PROM}"
                    f" (rounds {min(rounds):.2f}-{max(rounds):.2f})"
                )
                summary.append((case.name, ratio))
            print(line)
    print("\nfilter's added cost / prometheus_client's (medians):")
    for name, ratio in summary:
        print(f"  {ratio:5.2f}x  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests",
        type=int,
        help="per variant and round (default 5000; 400 with --instructions)",
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions under valgrind instead of timing (one round)",
    )
    parser.add_argument(
        "--cases",
        type=lambda text: tuple(text.split(",")),
        default=(),
        help="comma-separated words: only the cases whose names hold one",
    )
    parser.add_argument(
        "--block",
        type=cmd.positive,
        default=MARKED_BLOCK,
        help=f"with --instructions, requests per block and delivery "
        f"(default {MARKED_BLOCK})",
    )
    parser.add_argument("--mark", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.requests is None:
        args.requests = 400 if args.instructions else 5000
    if args.instructions:
        count_instructions(args.requests, args.cases, args.block)
        return
    if args.mark:
        mark_blocks(args.requests, args.cases, args.block)
        return

    load_before = os.getloadavg()[0]
    with CollectorProcess() as collector:
        cases = build_cases(str(collector.socket_path), only=args.cases)
        sender = lifecycle.get_sender(
            str(collector.socket_path), 1_000_000, FLUSH_INTERVAL
        )
        costs, added = measure(cases, args.requests, args.rounds, sender)
        drain(sender)
        # One checking request per filter, then the rounds.
        filters = sum(name in FILTERS for case in cases for name in case.variants)
        sent = (1 + args.rounds * args.requests) * filters
        delivered, dropped = _wait_counted(collector, sent)
    print(
        f"{args.rounds} interleaved rounds x {args.requests} requests per variant; "
        f"CPU us per request, median [min-max] over rounds\n"
        f"{os.cpu_count()} CPUs, load average {load_before:.1f} before the run, "
        f"{os.getloadavg()[0]:.1f} after"
    )
    report(cases, costs, added)
    print(
        f"\nthis filter's samples: {sent} taken, {delivered} counted by the "
        f"collector, {dropped} dropped"
    )
    if delivered != sent or dropped:
        raise SystemExit("not every sample was delivered")


# Under callgrind, each call of this libc function starts a new dump file:
# the marks between which one variant serves its requests.
MARK_FUNCTION = "getppid"


# Requests per block under callgrind, where variants take turns as well.
MARKED_BLOCK = 20
MARKED_FLUSH_INTERVAL = 60.0


def mark_blocks(
    requests: int, only: tuple[str, ...], block: int = MARKED_BLOCK
) -> None:
    """Serve each variant's blocks of requests between two marks.

    Run under callgrind by count_instructions().  After a warm-up block,
    the variants of a case take turns block by block, as in the timed
    runs, so a router whose cost drifts weighs on all of them alike.
    """
    with CollectorProcess() as collector:
        # Under callgrind a request runs some fifty times slower, so the
        # flusher thread would wake some fifty times more often per request
        # than in service: it sleeps instead, and the flush that ends each
        # block encodes and sends every sample the block took.
        cases = build_cases(str(collector.socket_path), MARKED_FLUSH_INTERVAL, only)
        sender = lifecycle.get_sender(
            str(collector.socket_path), 1_000_000, FLUSH_INTERVAL
        )
        for case in cases:
            for start in (-BLOCK, *range(0, requests, block)):
                size = BLOCK if start < 0 else min(block, requests - start)
                for name in case.turns(max(start, 0) // block):
                    variant = case.variants[name]
                    own_sender = sender if name in FILTERS else None
                    environs = case.environs(size)
                    if variant.switch:
                        variant.switch(True)
                    # A collection owed by the previous block is not this
                    # one's to pay; those its own garbage triggers are.
                    gc.collect()
                    if start >= 0:
                        os.getppid()
                    run_block(variant.app, environs, own_sender)
                    if start >= 0:
                        os.getppid()
                    if variant.switch:
                        variant.switch(False)
            drain(sender)


def count_instructions(
    requests: int, only: tuple[str, ...], block: int = MARKED_BLOCK
) -> None:
    """Instructions per request of every variant, counted by callgrind.

    Unlike CPU time, the count does not depend on what else the machine
    runs.  The collector runs outside valgrind; the filter's encoding is
    counted (the flush that ends each block), and every block starts
    after a garbage collection, so each pays for the collections its own
    allocations trigger.
    """
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--dump-before={MARK_FUNCTION}",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--mark",
                "--requests",
                str(requests),
                "--block",
                str(block),
                *(("--cases", ",".join(only)) if only else ()),
            ],
            check=True,
            capture_output=True,
        )
        # Dump k holds what ran before the k-th mark: odd marks start a
        # measured block, so even dumps hold one block each.
        dumps = len(list(Path(tmp).glob("callgrind.out.*")))
        totals = iter(
            _callgrind_total(Path(f"{out}.{index}")) for index in range(2, dumps + 1, 2)
        )
        cases = build_cases("/nonexistent", only=only)
        blocks: dict[tuple[str, str], list[float]] = {}
        for case in cases:
            for start in range(0, requests, block):
                size = min(block, requests - start)
                for name in case.turns(start // block):
                    per_request = next(totals) / size
                    blocks.setdefault((case.name, name), []).append(per_request)
        if next(totals, None) is not None:
            raise SystemExit("more marked blocks than variants")
    print(
        f"{requests} requests per variant in blocks of {block}; "
        "instructions per request (callgrind), median [min-max] over blocks"
    )
    summary = []
    for case in cases:
        print(f"\n[{case.name}]")
        bare = blocks[(case.name, BARE)]
        added = {
            name: [mine - theirs for mine, theirs in zip(counts, bare, strict=True)]
            for (case_name, name), counts in blocks.items()
            if case_name == case.name
        }
        for name in case.variants:
            line = f"  {name:20s} {_spread(blocks[(case.name, name)], 1, ',.0f', 10)}"
            if name != BARE:
                line += f"   added {_spread(added[name], 1, ',.0f', 8)}"
            if name == FILTER:
                median = statistics.median
                ratio = median(added[FILTER]) / median(added[PROM])
                line += f"   {ratio:5.2f}x {PROM}"
                summary.append((case.name, ratio))
            print(line)
    print("\nfilter's added instructions / prometheus_client's (medians):")
    for name, ratio in summary:
        print(f"  {ratio:5.2f}x  {name}")


def _callgrind_total(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {path}")


def _wait_counted(
    collector: CollectorProcess, sent: int, timeout: float = 60.0
) -> tuple[int, int]:
    """Request and drop counts the collector exports, once it has them all."""
    deadline = time.monotonic() + timeout
    while True:
        text = collector.scrape()
        delivered = int(_total(text, "openstack_api_request_duration_seconds_count"))
        dropped = int(_total(text, "openstack_api_metrics_dropped_samples_total"))
        if delivered + dropped >= sent or time.monotonic() > deadline:
            return delivered, dropped
        time.sleep(0.2)


def _total(text: str, prefix: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix)
    )


if __name__ == "__main__":
    main()
