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

import prometheus_client

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector import openstack_api


def _value(name: str, **labels: str) -> float | None:
    return prometheus_client.REGISTRY.get_sample_value(name, labels)


def test_batch_rows_land_in_the_histograms() -> None:
    rows: list[protocol.Sample] = [
        ("image", "GET", "/v2/images/{image_id}", 200, 0.02, 0, 1000, None),
        ("image", "GET", "/v2/images/{image_id}", 200, 0.2, 0, 3000, None),
        ("image", "GET", "/v2/images/{image_id}", 500, 1.5, 0, 0, "Timeout"),
    ]
    [(datagram, carried)] = protocol.split_for_datagrams(rows)
    assert carried == 3
    message = json.loads(datagram)
    receiver = getattr(openstack_api, message["name"]).labels(**message["labels"])
    getattr(receiver, message["action"]["action"])(message["action"]["value"])

    route = {"service": "image", "method": "GET", "route": "/v2/images/{image_id}"}
    duration = "openstack_api_request_duration_seconds"
    assert _value(f"{duration}_count", **route, status="200") == 2
    assert _value(f"{duration}_bucket", **route, status="200", le="0.025") == 1
    assert _value(f"{duration}_sum", **route, status="500") == 1.5
    assert _value("openstack_api_response_size_bytes_sum", **route) == 4000
    assert _value("openstack_api_exceptions_total", **route, exception="Timeout") == 1


def test_malformed_rows_are_dropped_and_counted() -> None:
    before = (
        _value(
            "openstack_api_metrics_dropped_samples_total",
            service="",
            reason="malformed",
        )
        or 0.0
    )
    good = ["volume", "POST", "/v3/volumes", 202, 0.1, 10, 20, None]
    openstack_api.batch.labels().observe(
        {
            "v": protocol.FORMAT_VERSION,
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
    assert (
        _value(
            "openstack_api_request_duration_seconds_count",
            service="volume",
            method="POST",
            route="/v3/volumes",
            status="202",
        )
        == 1
    )


def test_large_batches_split_below_the_daemon_read_size() -> None:
    row: protocol.Sample = ("compute", "GET", "/" + "x" * 190, 200, 0.1, 1, 2, None)
    pieces = protocol.split_for_datagrams([row] * 1000)
    assert sum(carried for _, carried in pieces) == 1000
    assert all(len(datagram) <= protocol.MAX_DATAGRAM for datagram, _ in pieces)
    assert len(pieces) > 1
