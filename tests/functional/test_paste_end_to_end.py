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

"""The whole path: paste pipeline -> filter -> real collector -> /metrics."""

from __future__ import annotations

from collections.abc import Callable
import time
from typing import Any

from paste.deploy import loadapp
from prometheus_client.parser import text_string_to_metric_families
import pytest

from oslo_metrics_middleware.collector.process import CollectorProcess
from oslo_metrics_middleware.demo.sample_api import DemoError
from tests.conftest import PASTE_SAMPLE
from tests.wsgi import call
from tests.wsgi import environ

SERVER = "00000000-0000-0000-0000-00000000000a"
MISSING = "ffffffff-0000-0000-0000-00000000000a"
PROJECT = "0123456789abcdef0123456789abcdef"
ACTION = b'{"os-stop": null}'


def _serve(app: Callable[..., Any], method: str, path: str, body: bytes = b"") -> str:
    return call(app, environ(method, path, body))[0]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            values[key] = sample.value
    return values


def _key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return (name, tuple(sorted(labels.items())))


def _wait_for(
    collector: CollectorProcess, name: str, labels: dict[str, str], value: float
) -> dict[Any, float]:
    deadline = time.monotonic() + 10
    while True:
        samples = _samples(collector.scrape())
        if samples.get(_key(name, **labels)) == value or time.monotonic() > deadline:
            return samples
        time.sleep(0.1)


def test_paste_pipeline_to_prometheus_text(collector: CollectorProcess) -> None:
    app = loadapp(
        f"config:{PASTE_SAMPLE}",
        name="osapi_compute",
        global_conf={
            "metrics_socket_file": str(collector.socket_path),
            "flush_interval": "0.05",
        },
    )
    for _ in range(7):
        assert _serve(app, "GET", f"/v2.1/{PROJECT}/servers/{SERVER}") == "200 OK"
    for _ in range(5):
        assert _serve(app, "GET", f"/v2.1/servers/{SERVER}") == "200 OK"
    for _ in range(3):
        assert _serve(app, "GET", f"/v2.1/servers/{MISSING}") == "404 Not Found"
    for _ in range(4):
        assert (
            _serve(app, "POST", f"/v2.1/servers/{SERVER}/action", ACTION)
            == "202 Accepted"
        )
    for _ in range(2):
        with pytest.raises(DemoError):
            _serve(app, "GET", "/v2.1/os-crash")
    assert _serve(app, "GET", "/v2.1/what/ever") == "404 Not Found"
    assert _serve(app, "GET", "/healthcheck") == "200 OK"

    base = {"service": "compute"}
    duration = "openstack_api_request_duration_seconds_count"
    _wait_for(
        collector,
        duration,
        {**base, "method": "GET", "route": "__unmatched__", "status": "404"},
        1.0,
    )
    # A page is written while datagrams are still read: the one that showed
    # the last request may have taken other families before it arrived.
    # One taken after it has every family complete.
    samples = _samples(collector.scrape())
    show = {**base, "method": "GET", "route": "/v2.1/servers/{id}"}
    action = {**base, "method": "POST", "route": "/v2.1/servers/{id}/action"}
    crash = {**base, "method": "GET", "route": "/v2.1/os-crash"}
    expected = {
        _key(duration, **show, status="200"): 12.0,
        _key(duration, **show, status="404"): 3.0,
        _key(duration, **action, status="202"): 4.0,
        _key(duration, **crash, status="500"): 2.0,
        _key(duration, **base, method="GET", route="__unmatched__", status="404"): 1.0,
    }
    counts = {k: v for k, v in samples.items() if k[0] == duration}
    assert counts == expected
    assert samples[_key("openstack_api_request_size_bytes_sum", **action)] == 4 * len(
        ACTION
    )
    assert samples[_key("openstack_api_request_size_bytes_sum", **show)] == 0
    assert samples[_key("openstack_api_response_size_bytes_count", **show)] == 15
    assert (
        samples[_key("openstack_api_exceptions_total", **crash, exception="DemoError")]
        == 2
    )
    # the show handler sleeps at most 9 ms: all twelve fall under 250 ms
    bucket = "openstack_api_request_duration_seconds_bucket"
    assert samples[_key(bucket, **show, status="200", le="0.25")] == 12
    assert samples[_key(bucket, **show, status="200", le="0.005")] < 12
    assert not any("healthcheck" in str(k) for k in samples)
    assert not any(SERVER in str(k) or PROJECT in str(k) for k in samples)
