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

"""The request id sent with each sample, for the collector's exemplars."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from oslo_middleware import RequestId

from oslo_metrics_middleware.collector import checks
from tests.unit.conftest import DatagramSink
from tests.unit.conftest import make_filter
from tests.unit.conftest import rows
from tests.wsgi import call
from tests.wsgi import environ

StartResponse = Callable[..., Any]


def _app(headers: list[tuple[str, str]]) -> Callable[..., Iterable[bytes]]:
    def app(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", headers)
        return [b"ok"]

    return app


def _rows(app: Callable[..., Iterable[bytes]], sink: DatagramSink,
          **options: str) -> list[list[Any]]:
    mw = make_filter(app, sink, **options)
    call(mw, environ("GET", "/v2.1/servers"))
    mw.sender.flush()
    return rows(sink.messages())


def test_oslo_request_id_filter_gives_the_id(sink: DatagramSink) -> None:
    [row] = _rows(RequestId(_app([])), sink)
    assert len(row) == 9
    assert row[-1].startswith("req-") and len(row[-1]) == 40


def test_response_header_gives_the_id(sink: DatagramSink) -> None:
    [row] = _rows(_app([("X-OpenStack-Request-ID", "req-abc")]), sink)
    assert row[-1] == "req-abc"


def test_no_id_no_field(sink: DatagramSink) -> None:
    [row] = _rows(_app([("Content-Type", "text/plain")]), sink)
    assert len(row) == 8


def test_option_off(sink: DatagramSink) -> None:
    [row] = _rows(RequestId(_app([])), sink, request_id_exemplars="false")
    assert len(row) == 8


def test_collector_takes_the_id_as_an_exemplar() -> None:
    assert checks.exemplar("req-1") == {"request_id": "req-1"}
    assert checks.exemplar("r" * 200) is None
    assert checks.exemplar("") is None
    assert checks.exemplar(7) is None
    assert checks.exemplar(None) is None
