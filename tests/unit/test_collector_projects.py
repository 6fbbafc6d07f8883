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

"""The heaviest projects per service: summary bounds, phases, label budget."""

from __future__ import annotations

from collections import Counter
import json
import random
from typing import Any

import prometheus_client
import pytest

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector import ingest
from oslo_metrics_middleware.collector import projects
from oslo_metrics_middleware.collector.caps import Limits

PROJECTS = 10_000
K = 10
WINDOW = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _zipf(count: int, seed: int) -> list[str]:
    """``count`` project ids drawn from a Zipf law (s = 1.1) over PROJECTS."""
    rank = random.Random(seed)
    weights = [1 / (n + 1) ** 1.1 for n in range(PROJECTS)]
    ids = [f"{n:032x}" for n in range(PROJECTS)]
    return rank.choices(ids, weights, k=count)


def _ingest(
    clock: Clock, k: int = K
) -> tuple[ingest.Ingest, prometheus_client.CollectorRegistry]:
    """An Ingest whose project metrics live in a registry of their own."""
    registry = prometheus_client.CollectorRegistry()
    requests = prometheus_client.Counter(
        "openstack_api_project_requests", "", ("service", "project"), registry=registry
    )
    busy = prometheus_client.Counter(
        "openstack_api_project_busy_seconds",
        "",
        ("service", "project"),
        registry=registry,
    )
    receiver = ingest.Ingest(Limits(top_projects=k, project_window=WINDOW))
    receiver.projects = projects.Projects(requests, busy, k, WINDOW, clock)
    return receiver, registry


def _send(
    receiver: ingest.Ingest, service: str, rows: list[tuple[str | None, float]]
) -> None:
    """Rows of (project, seconds) as the filter sends them, through JSON."""
    samples = [
        protocol.sample(service, "GET", "/v1/{id}", 200, seconds, project=project)
        for project, seconds in rows
    ]
    for start in range(0, len(samples), protocol.MAX_ROWS):
        chunk = samples[start : start + protocol.MAX_ROWS]
        for datagram, _ in protocol.split_for_datagrams(chunk):
            receiver.datagram(datagram)


def _series(
    registry: prometheus_client.CollectorRegistry, name: str, service: str
) -> dict[str, float]:
    found = {}
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == name and sample.labels["service"] == service:
                found[sample.labels["project"]] = sample.value
    return found


REQUESTS = "openstack_api_project_requests_total"
BUSY = "openstack_api_project_busy_seconds_total"


def test_space_saving_estimates_are_within_total_over_size() -> None:
    stream = _zipf(50_000, seed=3)
    summary = projects.SpaceSaving(200)
    for key in stream:
        summary.add(key, 1)
    true = Counter(stream)
    bound = summary.total / summary.size
    assert summary.total == 50_000
    assert sum(summary.counts.values()) == 50_000
    assert len(summary.counts) == 200
    for key, estimate in summary.counts.items():
        assert true[key] <= estimate <= true[key] + bound
    for key, count in true.items():
        if count > bound:
            assert key in summary.counts


def test_zipf_over_ten_thousand_projects_names_the_true_top_ten() -> None:
    clock = Clock()
    receiver, registry = _ingest(clock)
    durations = random.Random(5)
    windows = [_zipf(40_000, seed=seed) for seed in (11, 12, 13)]
    loads = [[(p, durations.choice((0.001, 0.002, 0.01))) for p in w] for w in windows]
    for load in loads:
        _send(receiver, "zipf", load)
        clock.now += WINDOW
    # A roll happens on the first rows of a window: one row of a known project.
    _send(receiver, "zipf", [(f"{0:032x}", 0.001)])
    counted = _series(registry, REQUESTS, "zipf")
    true_top = [p for p, _ in Counter(windows[2]).most_common(K)]
    assert set(counted) - {projects.OTHER} == set(true_top)
    # Named in window 2 (pending), counted from window 3: exact there.
    third = Counter(windows[2])
    extra = Counter({f"{0:032x}": 1})
    for project in true_top:
        assert counted[project] == third[project] + extra[project]
    total = sum(len(w) for w in windows) + 1
    assert sum(counted.values()) == total
    # Busy time: counted the same way, exactly (microseconds summed).
    busy = _series(registry, BUSY, "zipf")
    assert len(busy) <= K + 1
    assert sum(busy.values()) == pytest.approx(
        sum(seconds for load in loads for _, seconds in load) + 0.001, rel=1e-9
    )
    # Shares over the third window, as a report computes them: exact for
    # every project named since the window began.
    share = {p: counted[p] / len(windows[2]) for p in true_top}
    for project in true_top:
        assert share[project] == pytest.approx(
            (third[project] + extra[project]) / len(windows[2])
        )


def test_phases_keep_every_counter_value_visible_and_within_budget() -> None:
    clock = Clock()
    receiver, registry = _ingest(clock, k=2)
    a, b, c = (f"{n:032x}" for n in (0xA, 0xB, 0xC))
    _send(receiver, "phases", [(a, 0.5)] * 3 + [(b, 0.5)] * 2 + [(c, 0.5)])
    assert _series(registry, REQUESTS, "phases") == {projects.OTHER: 6}
    clock.now += WINDOW
    _send(receiver, "phases", [(c, 0.5)])
    # a and b are pending: exposed at zero while their requests go to other.
    assert _series(registry, REQUESTS, "phases") == {projects.OTHER: 7, a: 0, b: 0}
    _send(receiver, "phases", [(c, 0.5)] * 5 + [(a, 0.5)])
    clock.now += WINDOW
    _send(receiver, "phases", [(a, 0.5), (b, 0.5)])
    # a and b were pending and are counted now, but c (the heaviest of the
    # window) needs room: b, the lighter outside the top, is frozen
    # (exposed, no longer counted) and its request goes to other.
    assert _series(registry, REQUESTS, "phases") == {projects.OTHER: 14, a: 1, b: 0}
    _send(receiver, "phases", [(c, 0.5)] * 5)
    clock.now += WINDOW
    _send(receiver, "phases", [(b, 0.5), (c, 0.5)])
    # b has gone after a window frozen; c takes its room, pending.
    assert _series(registry, REQUESTS, "phases") == {projects.OTHER: 21, a: 1, c: 0}
    clock.now += WINDOW
    _send(receiver, "phases", [(a, 0.5)] * 2)
    # c is counted; b, of this window's top, needs room: a is frozen.
    requests = _series(registry, REQUESTS, "phases")
    assert requests == {projects.OTHER: 23, a: 1, c: 0}
    assert sum(requests.values()) == 24
    busy = _series(registry, BUSY, "phases")
    assert busy == {projects.OTHER: 11.5, a: 0.5, c: 0}


def test_hostile_project_ids_add_no_series() -> None:
    clock = Clock()
    receiver, registry = _ingest(clock, k=3)
    hostile: list[Any] = [
        "x" * 65,
        "é" * 10,
        "a b",
        "../etc",
        "\udcff",
        "",
        "__other__",
        "a\n",
        "\u0661\u0662",  # Arabic-Indic digits: not ASCII
    ]
    rows = [(p, 0.1) for p in hostile for _ in range(50)]
    rows += [(f"{n:032x}", 0.1) for n in range(5000)]
    _send(receiver, "hostile", rows)
    # Odd values a filter never sends, in the column itself.
    value = {
        "v": 2,
        "keys": [["hostile", "GET", "/", 200, None, None, None]],
        "k": "00" * 4,
        "d": [1, 1, 1, 1],
        "i": [0] * 4,
        "o": [0] * 4,
        "p": [["list"], {"a": 1}, 7, None],
    }
    receiver.batch(value)
    for _ in range(4):
        clock.now += WINDOW
        _send(receiver, "hostile", rows[:300])
        named = _series(registry, REQUESTS, "hostile")
        assert len(named) <= 3 + 1
        assert all(len(p) == 32 for p in set(named) - {projects.OTHER})
    # Every row that carried a value counted once, hostile ones as other.
    assert sum(named.values()) == len(rows) + 3 + 4 * 300


def test_a_malformed_project_column_loses_no_request() -> None:
    clock = Clock()
    receiver, registry = _ingest(clock)
    value = {
        "v": 2,
        "keys": [["column", "GET", "/", 200, None, None, None]],
        "k": "0000",
        "d": [1000, 2000],
        "i": [0, 0],
        "o": [0, 0],
        "p": ["a"],
    }
    count = "openstack_api_request_duration_seconds_count"
    labels = {"service": "column", "method": "GET", "route": "/", "status": "200"}
    # The registry is the process's: count what this test adds to it.
    before = prometheus_client.REGISTRY.get_sample_value(count, labels) or 0.0
    receiver.batch(value)
    assert prometheus_client.REGISTRY.get_sample_value(count, labels) == before + 2
    assert _series(registry, REQUESTS, "column") == {}


def test_no_project_no_value_and_zero_turns_it_off() -> None:
    clock = Clock()
    receiver, registry = _ingest(clock)
    _send(receiver, "none", [(None, 0.1)] * 5)
    assert _series(registry, REQUESTS, "none") == {}
    off, off_registry = _ingest(clock, k=0)
    _send(off, "off", [("abc", 0.1)] * 5)
    assert _series(off_registry, REQUESTS, "off") == {}


def test_encoded_batches_carry_projects_only_when_a_row_has_one() -> None:
    plain = protocol.encode_batch([protocol.sample("s", "GET", "/", 200, 0.1)])
    assert "p" not in json.loads(plain)["action"]["value"]
    mixed = protocol.encode_batch(
        [
            protocol.sample("s", "GET", "/", 200, 0.1, project="abc"),
            protocol.sample("s", "GET", "/", 200, 0.1),
        ]
    )
    assert json.loads(mixed)["action"]["value"]["p"] == ["abc", None]
