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

"""Recording in bulk gives what observing row by row gives."""

from __future__ import annotations

import json
import math
from typing import Any

import prometheus_client
from prometheus_client.samples import Sample
import pytest

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector import checks
from oslo_metrics_middleware.collector import histograms
from oslo_metrics_middleware.collector import ingest
from oslo_metrics_middleware.collector import openstack_api

BOUNDS = (0.001, 0.0025, 0.01, 1.0)
# On the bounds, between them, zero and past the last one.
MICROS = [0, 1, 1000, 1001, 2500, 2499, 10_000, 999_999, 1_000_000, 7_000_000]


def _samples(registry: prometheus_client.CollectorRegistry) -> list[Sample]:
    return [
        sample
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    ]


def _histogram(registry: prometheus_client.CollectorRegistry) -> Any:
    return prometheus_client.Histogram(
        "d", "", ("k",), buckets=BOUNDS, registry=registry
    )


def test_observe_all_matches_observe() -> None:
    one_by_one = prometheus_client.CollectorRegistry()
    in_bulk = prometheus_client.CollectorRegistry()
    singles, bulk = _histogram(one_by_one), _histogram(in_bulk)
    keys = bytes(index % 3 for index in range(len(MICROS)))
    ids = [f"req-{index}" if index % 4 else None for index in range(len(MICROS))]
    for key, micros, request_id in zip(keys, MICROS, ids, strict=True):
        exemplar = {"request_id": request_id} if request_id else None
        singles.labels(str(key)).observe(micros / 1e6, exemplar)
    observers = [[bulk.labels(str(key))] for key in range(3)]
    bounds = histograms.bounds(BOUNDS, 1e6)
    buckets = histograms.observe_all(observers, keys, MICROS, bounds, 1e6)
    histograms.set_exemplars(
        [children[0] for children in observers],
        keys,
        buckets,
        MICROS,
        ids,
        "request_id",
        1e6,
    )

    expected, found = _samples(one_by_one), _samples(in_bulk)
    assert [(s.name, s.labels) for s in found] == [(s.name, s.labels) for s in expected]
    for mine, theirs in zip(found, expected, strict=True):
        assert math.isclose(mine.value, theirs.value, rel_tol=1e-12), mine
        if theirs.exemplar is None:
            assert mine.exemplar is None, mine
        else:
            assert mine.exemplar is not None, mine
            assert mine.exemplar.labels == theirs.exemplar.labels
            assert mine.exemplar.value == theirs.exemplar.value
    # A value on a bound lands in that bound's bucket, as observe() has it.
    assert bulk.labels("2")._buckets[0].get() == 1


def _exposed(service: str) -> list[tuple[str, dict[str, str], float, Any]]:
    found = []
    for sample in _samples(prometheus_client.REGISTRY):
        if sample.labels.get("service") == service:
            labels = {**sample.labels, "service": ""}
            exemplar = sample.exemplar and (
                sample.exemplar.labels,
                sample.exemplar.value,
            )
            found.append((sample.name, labels, round(sample.value, 9), exemplar))
    return sorted(found, key=repr)


def _samples_of(service: str) -> list[protocol.Sample]:
    route = "/v2.1/servers/{id}"
    return [
        protocol.sample(service, "GET", route, 200, micros / 1e6, 0, 10 * index)
        for index, micros in enumerate(MICROS)
    ] + [
        protocol.sample(
            service,
            "POST",
            route + "/action",
            202,
            0.3,
            20,
            0,
            action="os-start",
            microversion="2.79",
            request_id="req-a",
        ),
        protocol.sample(
            service,
            "POST",
            route + "/action",
            202,
            0.004,
            20,
            0,
            action="os-start",
            microversion="2.79",
        ),
        protocol.sample(
            service, "DELETE", route, 500, 2.0, 0, 0, "Timeout", request_id="req-b"
        ),
    ]


def test_bulk_batches_record_what_rows_record() -> None:
    """A format 2 batch recorded in bulk against the same rows sent in
    format 1, which is recorded row by row."""
    receiver = ingest.shared()
    action = {
        "service": "bulk",
        "method": "POST",
        "route": "/v2.1/servers/{id}/action",
        "action": "os-start",
        "microversion": "2.79",
        "status": "202",
    }
    count = "openstack_api_action_duration_seconds_count"
    failed = openstack_api.openstack_api_exceptions.labels(
        "bulk", "DELETE", "/v2.1/servers/{id}", "Timeout"
    )
    # The registry is the process's: count what this test adds to it.
    counted = prometheus_client.REGISTRY.get_sample_value(count, action) or 0.0
    timeouts = failed._value.get()
    [(datagram, _)] = protocol.split_for_datagrams(_samples_of("bulk"))
    batch = json.loads(datagram)["action"]["value"]
    assert checks.in_bulk(protocol.columns_of(batch)[2])
    receiver.batch(batch)
    [(datagram, _)] = protocol.split_for_datagrams(_samples_of("rows"))
    rows = protocol.rows_of(json.loads(datagram)["action"]["value"])
    receiver.batch({"v": protocol.ROWS_FORMAT_VERSION, "rows": rows})

    assert _exposed("bulk") == _exposed("rows")
    assert prometheus_client.REGISTRY.get_sample_value(count, action) == counted + 2
    assert failed._value.get() == timeouts + 1


def test_a_prometheus_client_without_the_parts_records_row_by_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert histograms.USABLE
    receiver = ingest.shared()
    batches = {}
    for service in ("in-bulk", "by-row"):
        [(datagram, _)] = protocol.split_for_datagrams(_samples_of(service))
        batches[service] = json.loads(datagram)["action"]["value"]
    assert checks.in_bulk(protocol.columns_of(batches["by-row"])[2])
    receiver.batch(batches["in-bulk"])
    monkeypatch.setattr(histograms, "USABLE", False)
    receiver.batch(batches["by-row"])
    assert _exposed("by-row") == _exposed("in-bulk")
