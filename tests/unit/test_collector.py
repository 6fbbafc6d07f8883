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

"""The collector's batch receiver and the datagram encoding it reads."""

from __future__ import annotations

import json
import math
from pathlib import Path
import re
from typing import Any

import prometheus_client
import pytest

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector import ingest
from oslo_metrics_middleware.collector import openstack_api


def _value(name: str, **labels: str) -> float | None:
    return prometheus_client.REGISTRY.get_sample_value(name, labels)


def test_batch_rows_land_in_the_histograms() -> None:
    rows = [
        protocol.sample("image", "GET", "/v2/images/{image_id}", 200, 0.02, 0, 1000),
        protocol.sample("image", "GET", "/v2/images/{image_id}", 200, 0.2, 0, 3000),
        protocol.sample(
            "image", "GET", "/v2/images/{image_id}", 500, 1.5, 0, 0, "Timeout"
        ),
    ]
    [(datagram, carried)] = protocol.split_for_datagrams(rows)
    assert carried == 3
    message = json.loads(datagram)
    route = {"service": "image", "method": "GET", "route": "/v2/images/{image_id}"}
    duration = "openstack_api_request_duration_seconds"
    # The registry is the process's own: compare with what it held before,
    # so the test holds however often it runs in one process.
    watched = {
        "count": (f"{duration}_count", {**route, "status": "200"}),
        "bucket": (f"{duration}_bucket", {**route, "status": "200", "le": "0.025"}),
        "sum": (f"{duration}_sum", {**route, "status": "500"}),
        "bytes": ("openstack_api_response_size_bytes_sum", route),
        "exceptions": (
            "openstack_api_exceptions_total",
            {**route, "exception": "Timeout"},
        ),
    }
    before = {key: _value(name, **held) or 0 for key, (name, held) in watched.items()}
    receiver = getattr(openstack_api, message["name"]).labels(**message["labels"])
    getattr(receiver, message["action"]["action"])(message["action"]["value"])

    after = {key: _value(name, **labels) for key, (name, labels) in watched.items()}
    assert {key: after[key] - before[key] for key in watched} == {
        "count": 2,
        "bucket": 1,
        "sum": 1.5,
        "bytes": 4000,
        "exceptions": 1,
    }


def test_malformed_rows_are_dropped_and_counted() -> None:
    route = {"service": "volume", "method": "POST", "route": "/v3/volumes"}
    count = "openstack_api_request_duration_seconds_count"
    before = (
        _value(
            "openstack_api_metrics_dropped_samples_total",
            service="",
            reason="malformed",
        )
        or 0.0
    )
    counted = _value(count, **route, status="202") or 0.0
    good = ["volume", "POST", "/v3/volumes", 202, 0.1, 10, 20, None]
    openstack_api.batch.labels().observe(
        {
            "v": protocol.ROWS_FORMAT_VERSION,
            "rows": [
                good,
                ["volume", "POST"],
                ["volume", "POST", "/v3/volumes", "202", 0.1, 10, 20, None],
                ["volume", "POST", "/v3/volumes", 202, True, 10, 20, None],
                "not a row",
            ],
        }
    )
    after = _value(
        "openstack_api_metrics_dropped_samples_total", service="", reason="malformed"
    )
    assert after == before + 4
    assert _value(count, **route, status="202") == counted + 1


def _keys_per_piece(pieces: list[tuple[bytes, int]]) -> list[int]:
    return [
        len(json.loads(datagram)["action"]["value"]["keys"]) for datagram, _ in pieces
    ]


def test_large_batches_split_below_the_daemon_read_size() -> None:
    rows = [
        protocol.sample("compute", "GET", f"/{n % 250:03}" + "x" * 240, 200, 0.1, 1, 2)
        for n in range(1000)
    ]
    pieces = protocol.split_for_datagrams(rows)
    assert sum(carried for _, carried in pieces) == 1000
    assert all(len(datagram) <= protocol.MAX_DATAGRAM for datagram, _ in pieces)
    assert len(pieces) > 1


def test_batches_split_at_the_most_label_sets_a_byte_indexes() -> None:
    rows = [
        protocol.sample("compute", "GET", f"/r{n % 300}", 200, 0.1, 1, 2)
        for n in range(600)
    ]
    with pytest.raises(protocol.TooManyKeysError):
        protocol.encode_batch(rows)
    pieces = protocol.split_for_datagrams(rows)
    assert sum(carried for _, carried in pieces) == 600
    assert len(pieces) == 4
    assert max(_keys_per_piece(pieces)) <= protocol.MAX_KEYS


def _dropped_malformed() -> float:
    value = _value(
        "openstack_api_metrics_dropped_samples_total", service="", reason="malformed"
    )
    return value or 0.0


def test_column_batch_rows_are_checked_one_by_one() -> None:
    """A bad key or number loses its own rows, not the datagram's."""
    route = {"service": "network", "method": "GET", "route": "/v2.0/ports"}
    duration = "openstack_api_request_duration_seconds"
    before = _dropped_malformed()
    counted = _value(f"{duration}_count", **route, status="200") or 0.0
    summed = _value(f"{duration}_sum", **route, status="200") or 0.0
    good = ["network", "GET", "/v2.0/ports", 200, None, None, None]
    bad_status = ["network", "GET", "/v2.0/ports", "200", None, None, None]
    openstack_api.batch.labels().observe(
        {
            "v": protocol.FORMAT_VERSION,
            "keys": [good, bad_status],
            "k": "000100",
            "d": [2500, 1000, -5],
            "i": [0, 0, 0],
            "o": [10, 10, 10],
        }
    )
    assert _dropped_malformed() == before + 2
    assert _value(f"{duration}_count", **route, status="200") == counted + 1
    assert _value(f"{duration}_sum", **route, status="200") == pytest.approx(
        summed + 0.0025
    )


@pytest.mark.parametrize(
    "change",
    [
        {"k": "0x"},
        {"k": "02"},
        {"d": [1, 2]},
        {"keys": [["network", "GET"]]},
        {"r": ["req-1", None, None]},
        {"v": 3},
    ],
    ids=["hex", "index", "lengths", "key", "ids", "version"],
)
def test_unreadable_column_batches_count_their_rows(change: dict[str, Any]) -> None:
    before = _dropped_malformed()
    value = {
        "v": protocol.FORMAT_VERSION,
        "keys": [["network", "GET", "/v2.0/ports", 200, None, None, None]],
        "k": "00",
        "d": [1000],
        "i": [0],
        "o": [10],
        **change,
    }
    with pytest.raises(ingest.Rejected, match="bad_batch"):
        ingest.shared().batch(value)
    assert _dropped_malformed() == before + len(value["d"])


def test_rows_of_reads_what_encode_batch_writes() -> None:
    samples = [
        protocol.sample("compute", "GET", "/v2.1/servers", 200, 0.0125, 0, 10),
        protocol.sample(
            "compute", "POST", "/v2.1/servers/{id}/action", 202, 0.5, 20, 0,
            "Timeout", "os-start", "2.79", "req-1",
        ),
    ]
    message = json.loads(protocol.encode_batch(samples))
    assert protocol.rows_of(message["action"]["value"]) == [
        ["compute", "GET", "/v2.1/servers", 200, 0.0125, 0, 10, None],
        [
            "compute", "POST", "/v2.1/servers/{id}/action", 202, 0.5, 20, 0,
            "Timeout", "os-start", "2.79", "req-1",
        ],
    ]


METRICS_PAGE = Path(__file__).resolve().parents[2] / "doc/source/metrics.rst"


def _documented_bounds() -> tuple[list[float], list[float]]:
    """The duration and size bucket bounds metrics.rst gives, in seconds
    and bytes: read from the page, not from the code."""
    text = " ".join(METRICS_PAGE.read_text().split())
    found = re.search(r"The duration buckets are (.*?) ms, (.*?) s\.", text)
    assert found, "metrics.rst no longer lists the duration buckets"

    def numbers(listed: str) -> list[float]:
        return [float(item) for item in re.split(r",\s*|\s+and\s+", listed)]

    durations = [
        *(value / 1000 for value in numbers(found[1])), *numbers(found[2])
    ]
    sizes = re.search(r"buckets (\d+) B \.\. (\d+) GB \(powers of ten\)", text)
    assert sizes, "metrics.rst no longer gives the size buckets"
    low, high = round(math.log10(int(sizes[1]))), round(math.log10(int(sizes[2]) * 1e9))
    return durations, [float(10**exponent) for exponent in range(low, high + 1)]


def _buckets(name: str, **labels: str) -> dict[float, float]:
    """Cumulative counts by bucket bound of one histogram child, as
    exposed (without +Inf)."""
    [family] = [
        family for family in prometheus_client.REGISTRY.collect()
        if family.name == name
    ]
    return {
        float(sample.labels["le"]): sample.value for sample in family.samples
        if sample.name == f"{name}_bucket"
        and labels.items() <= sample.labels.items()
        and sample.labels["le"] != "+Inf"
    }


def test_bucket_bounds_are_the_documented_ones() -> None:
    """Each request lasting exactly a documented bound is counted in that
    bound's bucket, in the bulk path (format 2) as on the page."""
    durations, sizes = _documented_bounds()
    assert len(durations) == 15 and len(sizes) == 10  # as metrics.rst counts
    samples = [
        protocol.sample("bounds", "GET", "/", 200, bound, int(size), int(size))
        for bound, size in zip(durations, [*sizes, *sizes], strict=False)
    ]
    route = {"service": "bounds", "method": "GET", "route": "/"}
    names = (
        "openstack_api_request_duration_seconds",
        "openstack_api_request_size_bytes",
    )
    # The registry is the process's: count what this test adds to it.
    before = [_buckets(name, **route) for name in names]
    receiver = ingest.Ingest(ingest.Limits())
    for datagram, _ in protocol.split_for_datagrams(samples):
        receiver.datagram(datagram)
    timed, sized = (
        {
            bound: count - held.get(bound, 0)
            for bound, count in _buckets(name, **route).items()
        }
        for name, held in zip(names, before, strict=True)
    )
    assert timed == {
        bound: number for number, bound in enumerate(durations, start=1)
    }
    # Sizes go round twice: 15 requests on 10 bounds.
    assert sized == {
        bound: number + min(number, len(durations) - len(sizes))
        for number, bound in enumerate(sizes, start=1)
    }
