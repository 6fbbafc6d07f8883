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

"""The filter: what it records for each kind of request, and what it leaves alone."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
import time
from typing import Any

from paste.deploy import loadwsgi
import pytest

from oslo_metrics_middleware import MetricsMiddleware
from oslo_metrics_middleware.demo import sample_api
from tests.conftest import PASTE_SAMPLE
from tests.unit.conftest import DatagramSink
from tests.unit.conftest import make_filter
from tests.unit.conftest import rows
from tests.wsgi import call
from tests.wsgi import environ

SERVER = "00000000-0000-0000-0000-000000000001"
PROJECT = "0123456789abcdef0123456789abcdef"
StartResponse = Callable[..., Any]


def recorded(mw: MetricsMiddleware, sink: DatagramSink) -> list[list[Any]]:
    mw.sender.flush()
    return rows(sink.messages())


def hello(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def test_routes_app_rows_have_template_status_and_sizes(sink: DatagramSink) -> None:
    mw = make_filter(sample_api.make_app(), sink)
    call(mw, environ("GET", f"/{PROJECT}/servers/{SERVER}", SCRIPT_NAME="/v2.1"))
    call(mw, environ("GET", f"/servers/{SERVER}", SCRIPT_NAME="/v2.1"))
    body = b'{"os-start": null}'
    call(mw, environ("POST", f"/servers/{SERVER}/action", body, SCRIPT_NAME="/v2.1"))
    call(mw, environ("GET", "/no/such/path", SCRIPT_NAME="/v2.1"))
    got = [row[:4] + row[5:] for row in recorded(mw, sink)]
    show = len(b'{"server": {"id": "%s", "status": "ACTIVE"}}' % SERVER.encode())
    assert got == [
        ["compute", "GET", "/v2.1/servers/{id}", 200, 0, show, None],
        ["compute", "GET", "/v2.1/servers/{id}", 200, 0, show, None],
        ["compute", "POST", "/v2.1/servers/{id}/action", 202, len(body), 0, None],
        ["compute", "GET", "__unmatched__", 404, 0, 31, None],
    ]


def test_streamed_body_is_timed_until_closed(sink: DatagramSink) -> None:
    def slow_stream(
        env: dict[str, Any], start_response: StartResponse
    ) -> Iterator[bytes]:
        start_response("200 OK", [])
        for _ in range(3):
            time.sleep(0.05)
            yield b"12345"

    mw = make_filter(slow_stream, sink)
    started = time.monotonic()
    call(mw, environ("GET", "/v2/images/x/file"))
    elapsed = time.monotonic() - started
    [row] = recorded(mw, sink)
    assert row[3] == 200
    assert row[6] == 15
    assert 0.15 <= row[4] <= elapsed


def test_exception_is_recorded_as_500_and_reraised(sink: DatagramSink) -> None:
    error = KeyError("boom")

    def broken(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        raise error

    mw = make_filter(broken, sink)
    with pytest.raises(KeyError) as raised:
        call(mw, environ("DELETE", "/v3/volumes/12"))
    assert raised.value is error
    [row] = recorded(mw, sink)
    assert row[1:4] == ["DELETE", "/v3/volumes/{id}", 500]
    assert row[7] == "KeyError"


def test_exception_while_streaming_is_recorded(sink: DatagramSink) -> None:
    def breaks_midway(
        env: dict[str, Any], start_response: StartResponse
    ) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"first"
        raise OSError("backend went away")

    mw = make_filter(breaks_midway, sink)
    with pytest.raises(OSError, match="backend went away"):
        call(mw, environ("GET", "/v2/images"))
    [row] = recorded(mw, sink)
    assert (row[3], row[6], row[7]) == (500, 5, "OSError")


def _chunks(env: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", [])
    yield from (b"a", b"b", b"c")


def test_client_gone_before_the_end_is_recorded_as_499(sink: DatagramSink) -> None:
    mw = make_filter(_chunks, sink)
    result = mw(environ("GET", "/v2/images"), lambda *a: None)
    assert next(iter(result)) == b"a"
    result.close()  # type: ignore[attr-defined]
    [row] = recorded(mw, sink)
    assert (row[3], row[6]) == (499, 1)


def test_head_closed_after_headers_keeps_its_status(sink: DatagramSink) -> None:
    mw = make_filter(_chunks, sink)
    result = mw(environ("HEAD", "/v2/images"), lambda *a: None)
    assert next(iter(result)) == b"a"
    result.close()  # type: ignore[attr-defined]
    [row] = recorded(mw, sink)
    assert row[1:4] == ["HEAD", "/v2/images", 200]


def test_closed_before_the_response_started_is_499(sink: DatagramSink) -> None:
    mw = make_filter(_chunks, sink)
    mw(environ("GET", "/v2/images"), lambda *a: None).close()  # type: ignore[attr-defined]
    assert recorded(mw, sink)[0][3] == 499


def test_list_body_is_returned_as_the_same_object(sink: DatagramSink) -> None:
    body = [b"one", b"two"]

    def listing(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("201 Created", [])
        return body

    mw = make_filter(listing, sink)
    assert mw(environ("POST", "/v2/images"), lambda *a: None) is body
    [row] = recorded(mw, sink)
    assert (row[3], row[6]) == (201, 6)


def test_legacy_write_callable_is_counted(sink: DatagramSink) -> None:
    def writer(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        write = start_response("200 OK", [])
        write(b"0123456789")
        return [b"!"]

    mw = make_filter(writer, sink)
    call(mw, environ())
    [row] = recorded(mw, sink)
    assert row[6] == 11


def test_request_bytes_are_counted_not_taken_from_headers(sink: DatagramSink) -> None:
    def reads_part(
        env: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        first = env["wsgi.input"].read(4)
        line = env["wsgi.input"].readline()
        start_response("200 OK", [])
        return [first + line]

    mw = make_filter(reads_part, sink)
    _status, body = call(
        mw, environ("PUT", "/v1/a", b"abcdefgh\nrest-not-read", CONTENT_LENGTH="999")
    )
    assert body == b"abcdefgh\n"
    [row] = recorded(mw, sink)
    assert row[5] == 9


def test_unknown_methods_collapse_to_other(sink: DatagramSink) -> None:
    mw = make_filter(hello, sink)
    call(mw, environ("PROPFIND", "/"))
    call(mw, environ("get", "/"))
    assert [row[1] for row in recorded(mw, sink)] == ["other", "other"]


def test_excluded_paths_are_not_measured(sink: DatagramSink) -> None:
    mw = make_filter(hello, sink, excluded_paths="/healthcheck,/status/")
    for path in ("/healthcheck", "/healthcheck/details", "/status", "/status/x"):
        assert call(mw, environ("GET", path)) == ("200 OK", b"hello")
    call(mw, environ("GET", "/healthcheckx"))
    assert [row[2] for row in recorded(mw, sink)] == ["/healthcheckx"]


def test_disabled_filter_passes_requests_through(sink: DatagramSink) -> None:
    mw = make_filter(hello, sink, enabled="false")
    assert call(mw, environ()) == ("200 OK", b"hello")
    assert recorded(mw, sink) == []


def test_routes_beyond_max_routes_overflow_and_are_counted(sink: DatagramSink) -> None:
    # Guessed labels get a fifth of max_routes: two here.
    mw = make_filter(hello, sink, max_routes="10")
    for name in ("alpha", "beta", "gamma", "delta", "alpha"):
        call(mw, environ("GET", f"/v1/{name}"))
    mw.sender.flush()
    messages = sink.messages()
    assert [row[2] for row in rows(messages)] == [
        "/v1/alpha",
        "/v1/beta",
        "__overflow__",
        "__overflow__",
        "/v1/alpha",
    ]
    [overflow] = [m for m in messages if m["name"].endswith("overflow_total")]
    assert overflow["action"] == {"action": "inc", "value": 2}
    assert overflow["labels"] == {"service": "compute"}


def test_status_that_is_not_a_number_is_recorded_as_500(sink: DatagramSink) -> None:
    def odd(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("OK", [])
        return [b""]

    mw = make_filter(odd, sink)
    call(mw, environ())
    assert recorded(mw, sink)[0][3] == 500


def test_paste_sample_loads_with_the_filter_first() -> None:
    app = loadwsgi.loadapp(
        f"config:{PASTE_SAMPLE}",
        name="metrics_compute_v21",
        global_conf={"metrics_socket_file": "/nonexistent/metrics.sock"},
    )
    assert isinstance(app, MetricsMiddleware)
    assert app.service == "compute"
    assert app.excluded_paths == ("/healthcheck",)
