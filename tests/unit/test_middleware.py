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
import contextlib
import io
import os
from pathlib import Path
import time
from typing import Any

from paste.deploy import loadwsgi
import pytest

from oslo_metrics_middleware import MetricsMiddleware
from oslo_metrics_middleware import middleware
from oslo_metrics_middleware import opts
from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.body import CountingInput
from oslo_metrics_middleware.body import HeadKeepingInput
from oslo_metrics_middleware.demo import sample_api
from oslo_metrics_middleware.middleware import ConfigurationError
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


# -- what the server hands in goes back out unchanged ---------------------


def test_start_response_reaches_the_server_with_every_argument(
    sink: DatagramSink,
) -> None:
    headers = [("Content-Type", "text/plain")]
    error = (ValueError, ValueError("late"), None)

    def failing_late(
        env: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        start_response("299 Late Answer", headers, error)
        return [b""]

    seen: list[tuple[Any, ...]] = []
    mw = make_filter(failing_late, sink)
    mw(environ(), lambda *args: seen.append(args))
    assert seen == [("299 Late Answer", headers, error)]
    assert seen[0][1] is headers
    assert recorded(mw, sink)[0][3] == 299


def test_legacy_write_reaches_the_server_and_every_call_counts(
    sink: DatagramSink,
) -> None:
    written: list[bytes] = []

    def writer(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        write = start_response("200 OK", [])
        write(b"0123")
        write(b"45")
        return []

    mw = make_filter(writer, sink)
    mw(environ(), lambda *args: written.append)
    assert written == [b"0123", b"45"]
    assert recorded(mw, sink)[0][6] == 6


def test_status_lines_are_parsed_once_and_remembered(
    sink: DatagramSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    real = middleware.status_code
    monkeypatch.setattr(middleware, "_STATUS_CODES", {})
    monkeypatch.setattr(
        middleware, "status_code", lambda status: parsed.append(status) or real(status)
    )

    def teapot(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("418 I'm a teapot", [])
        return [b""]

    mw = make_filter(teapot, sink)
    call(mw, environ())
    call(mw, environ())
    assert parsed == ["418 I'm a teapot"]
    assert middleware._STATUS_CODES == {"418 I'm a teapot": 418}
    assert [row[3] for row in recorded(mw, sink)] == [418, 418]


def test_status_code_and_its_bounded_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(middleware, "_STATUS_CODES", {})
    assert middleware.status_code("503 Service Unavailable") == 503
    assert middleware.status_code("OK") == 0
    assert middleware.status_code(b"200 OK") == 200  # type: ignore[arg-type]
    # Only str lines are kept, and only so many of them.
    assert middleware._STATUS_CODES == {"503 Service Unavailable": 503}
    # A line longer than a reason phrase is parsed, not kept.
    longest = "299 " + "x" * (middleware._MAX_STATUS_LINE_CHARS - 4)
    assert middleware.status_code(longest) == 299
    assert middleware.status_code(longest + "x") == 299
    assert set(middleware._STATUS_CODES) == {"503 Service Unavailable", longest}
    for number in range(2 * middleware._MAX_STATUS_LINES):
        middleware.status_code(f"200 Custom {number}".ljust(200, "x"))
        middleware.status_code(f"200 Custom {number}")
    assert len(middleware._STATUS_CODES) == middleware._MAX_STATUS_LINES
    assert max(map(len, middleware._STATUS_CODES)) == (
        middleware._MAX_STATUS_LINE_CHARS
    )


def test_no_response_started_is_a_500(sink: DatagramSink) -> None:
    def silent(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        return []

    mw = make_filter(silent, sink)
    mw(environ(), lambda *args: None)
    assert recorded(mw, sink)[0][3] == 500


def test_head_closed_before_the_response_started_is_499(sink: DatagramSink) -> None:
    mw = make_filter(_chunks, sink)
    mw(environ("HEAD", "/v2/images"), lambda *a: None).close()  # type: ignore[attr-defined]
    assert recorded(mw, sink)[0][3] == 499


@pytest.mark.parametrize("length", [None, "0", ""])
def test_a_body_that_cannot_exist_is_not_wrapped(
    sink: DatagramSink, length: str | None
) -> None:
    seen: list[Any] = []

    def reader(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        seen.append(env["wsgi.input"])
        start_response("200 OK", [])
        return [b""]

    env = environ("GET", "/v2/images")
    if length is not None:
        env["CONTENT_LENGTH"] = length
    server_input = env["wsgi.input"]
    call(make_filter(reader, sink), env)
    assert seen == [server_input]


def test_an_action_body_is_peeked_only_with_the_action_label(
    sink: DatagramSink,
) -> None:
    seen: list[type] = []

    def reader(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        seen.append(type(env["wsgi.input"]))
        env["wsgi.input"].read()
        start_response("202 Accepted", [])
        return [b""]

    body = b'{"reboot": {"type": "SOFT"}}'
    for action_label in ("false", "true"):
        mw = make_filter(reader, sink, action_label=action_label)
        call(mw, environ("POST", f"/v2.1/servers/{SERVER}/action", body))
    assert seen == [CountingInput, HeadKeepingInput]


def test_action_and_microversion_overflow_counted_for_the_service(
    sink: DatagramSink,
) -> None:
    def reading(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        env["wsgi.input"].read()
        start_response("202 Accepted", [])
        return [b""]

    mw = make_filter(
        reading, sink, service_name="compute", action_label="true",
        microversion_label="true", max_label_values="1",
    )
    for action, version in (("reboot", "2.1"), ("pause", "2.2")):
        call(mw, environ(
            "POST", f"/v2.1/servers/{SERVER}/action",
            b'{"%s": null}' % action.encode(),
            HTTP_OPENSTACK_API_VERSION=f"compute {version}",
        ))
    mw.sender.flush()
    counted = {
        (message["name"], message["labels"]["service"]): message["action"]["value"]
        for message in sink.messages() if message["action"]["action"] == "inc"
    }
    assert counted == {
        (protocol.ACTION_OVERFLOW, "compute"): 1,
        (protocol.MICROVERSION_OVERFLOW, "compute"): 1,
    }


def test_the_servers_file_wrapper_gets_the_block_size_and_comes_back(
    sink: DatagramSink,
) -> None:
    made: list[tuple[Any, ...]] = []

    class ServerWrapper:
        def __init__(self, filelike: Any, *block_size: Any) -> None:
            made.append(block_size)
            self.filelike = filelike

        def __iter__(self) -> Iterator[bytes]:
            return iter([self.filelike.read()])

        def close(self) -> None:
            self.filelike.close()

    def sending(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])
        wrapped: Iterable[bytes] = env["wsgi.file_wrapper"](io.BytesIO(b"data"), 8192)
        return wrapped

    def failing(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        raise RuntimeError("before any body")

    for app in (sending, failing):
        env = environ("GET", "/v2/images/x/file")
        env["wsgi.file_wrapper"] = ServerWrapper
        with contextlib.suppress(RuntimeError):
            call(make_filter(app, sink), env)
        # The server reads its own wrapper back, whatever the app did.
        assert env["wsgi.file_wrapper"] is ServerWrapper
    assert made == [(8192,)]


def test_the_request_id_header_is_found_by_name_not_length(
    sink: DatagramSink,
) -> None:
    name = middleware.REQUEST_ID_HEADER
    same_length = "x" * len(name)
    answers = [
        [(same_length, "not-it"), (name.title(), "req-1"), (name, "req-2")],
        [(same_length, "not-it")],
    ]

    def answering(
        env: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        start_response("200 OK", answers.pop(0))
        return [b""]

    mw = make_filter(answering, sink)
    call(mw, environ())
    call(mw, environ())
    # The first header of that name, whatever its case; none without one.
    assert [row[-1] for row in recorded(mw, sink)] == ["req-1", None]


def test_unknown_option_names_every_known_one() -> None:
    with pytest.raises(ConfigurationError) as raised:
        MetricsMiddleware.factory({}, metrics_socket_flie="/x")
    known = ", ".join(opt.dest for opt in opts.METRICS_OPTS)
    assert str(raised.value) == (
        "Unknown option metrics_socket_flie = '/x' for the metrics filter "
        f"(known: {known})"
    )


def test_options_from_the_paste_defaults_apply(sink: DatagramSink) -> None:
    make = MetricsMiddleware.factory(
        {"service_name": "from-defaults", "exit_grace_period": "0"},
        metrics_socket_file=str(sink.path),
    )
    mw = make(hello)
    call(mw, environ())
    assert recorded(mw, sink)[0][0] == "from-defaults"


def _load_error(**options: str) -> str:
    with pytest.raises(ConfigurationError) as raised:
        MetricsMiddleware(
            hello,
            {"service_name": "compute", "exit_grace_period": "0", **options},
        )
    return str(raised.value)


def test_configuration_errors_name_the_option_value_and_reason(
    tmp_path: Path,
) -> None:
    prefix = "Invalid value for option [oslo_metrics_middleware]"
    assert _load_error(
        metrics_socket_file=str(tmp_path), excluded_paths="healthcheck"
    ) == (
        f"{prefix} excluded_paths = 'healthcheck': each path must start with '/'"
    )
    assert _load_error(metrics_socket_file=str(tmp_path)) == (
        f"{prefix} metrics_socket_file = {str(tmp_path)!r}: the path is a directory"
    )
    missing = tmp_path / "missing.yaml"
    assert _load_error(
        metrics_socket_file=str(tmp_path / "s.sock"), route_table_file=str(missing)
    ).startswith(
        f"{prefix} route_table_file = {str(missing)!r}: "
    )
    assert not _load_error(
        metrics_socket_file=str(tmp_path / "s.sock"), route_table_file=str(missing)
    ).endswith(": None")
    error = _load_error(
        metrics_socket_file=str(tmp_path / "s.sock"), route_resolvers="nonesuch"
    )
    assert error.startswith(f"{prefix} route_resolvers = 'nonesuch': ")
    assert not error.endswith(("None", ": "))


def test_excluded_paths_match_with_or_without_a_trailing_slash(
    sink: DatagramSink,
) -> None:
    mw = make_filter(hello, sink, excluded_paths="/healthcheck/,/status,/XX/")
    assert mw.excluded_paths == ("/healthcheck", "/status", "/XX")


def test_a_route_table_file_names_the_routes(
    sink: DatagramSink, tmp_path: Path
) -> None:
    table = tmp_path / "routes.yaml"
    table.write_text("# nova\n/v2.1/flavors/{flavor_id}\n")
    mw = make_filter(hello, sink, route_table_file=str(table))
    call(mw, environ("GET", "/v2.1/flavors/m1.small"))
    assert recorded(mw, sink)[0][2] == "/v2.1/flavors/{flavor_id}"


def test_script_name_and_path_info_may_be_absent(sink: DatagramSink) -> None:
    """PEP 3333 lets a server leave out an empty SCRIPT_NAME or PATH_INFO."""
    mw = make_filter(hello, sink)
    for env in (environ("GET", "/v2/images"), environ("GET", "")):
        del env["SCRIPT_NAME"]
        if not env["PATH_INFO"]:
            del env["PATH_INFO"]
        call(mw, env)
    mounted = environ("GET", "", SCRIPT_NAME="/v2/images")
    del mounted["PATH_INFO"]
    call(mw, mounted)
    assert [row[1:4] for row in recorded(mw, sink)] == [
        ["GET", "/v2/images", 200], ["GET", "/", 200], ["GET", "/v2/images", 200]
    ]


def test_the_app_gets_the_servers_environ(sink: DatagramSink) -> None:
    seen: list[dict[str, Any]] = []

    def keeping(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        seen.append(env)
        start_response("200 OK", [])
        return [b""]

    for options in ({}, {"excluded_paths": "/v2"}, {"enabled": "false"}):
        env = environ("GET", "/v2/images")
        call(make_filter(keeping, sink, **options), env)
        assert seen.pop() is env


def test_no_method_is_other_and_the_duration_is_whole_microseconds(
    sink: DatagramSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter([1_000_000_000, 1_002_345_999])
    monkeypatch.setattr(middleware, "_monotonic_ns", lambda: next(clock))
    mw = make_filter(hello, sink)
    env = environ()
    del env["REQUEST_METHOD"]
    call(mw, env)
    mw.sender.flush()
    [message] = [m for m in sink.messages() if m["name"] == "batch"]
    value = message["action"]["value"]
    assert value["keys"][0][1] == middleware.OTHER_METHOD
    assert protocol.columns_of(value)[2][0] == [2345]


@pytest.mark.parametrize(
    ("options", "version"),
    [({}, protocol.PACKED_FORMAT_VERSION),
     ({"batch_format": "3"}, protocol.PACKED_FORMAT_VERSION),
     ({"batch_format": "2"}, protocol.FORMAT_VERSION)],
)
def test_batches_are_sent_in_the_configured_format(
    sink: DatagramSink, options: dict[str, str], version: int
) -> None:
    mw = make_filter(hello, sink, **options)
    for _ in range(3):
        call(mw, environ())
    mw.sender.flush()
    [message] = [m for m in sink.messages() if m["name"] == "batch"]
    value = message["action"]["value"]
    assert value["v"] == version
    assert len(protocol.rows_of(value)) == 3


def test_the_request_id_in_the_environ_wins_over_the_header(
    sink: DatagramSink,
) -> None:
    def answering(
        env: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        start_response("200 OK", [(middleware.REQUEST_ID_HEADER, "req-header")])
        return [b""]

    mw = make_filter(answering, sink)
    call(mw, environ(**{middleware.REQUEST_ID_ENVIRON: "req-environ"}))
    call(mw, environ())
    call(mw, environ(**{middleware.REQUEST_ID_ENVIRON: 42}))
    assert [row[-1] for row in recorded(mw, sink)] == [
        "req-environ", "req-header", "req-header"
    ]


def test_the_route_is_resolved_with_the_final_status(sink: DatagramSink) -> None:
    def failing(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        raise RuntimeError("boom")

    mw = make_filter(failing, sink, route_resolvers="")
    statuses: list[Any] = []
    real = mw.routes.resolve
    mw.routes.resolve = (  # type: ignore[method-assign]
        lambda env, status, path: statuses.append(status) or real(env, status, path)
    )
    with contextlib.suppress(RuntimeError):
        call(mw, environ("GET", "/v2/images"))
    assert statuses == [500]


def test_option_errors_show_the_value_given(tmp_path: Path) -> None:
    prefix = "Invalid value for option [oslo_metrics_middleware]"
    socket = {"metrics_socket_file": str(tmp_path / "s.sock")}
    error = _load_error(buffer_size="lots", **socket)
    assert error.startswith(f"{prefix} buffer_size = 'lots': ")
    assert not error.endswith(": None")
    assert _load_error(flush_interval="", **socket) == (
        f"{prefix} flush_interval = '': a value is required"
    )
    assert _load_error(flush_interval="nan", **socket) == (
        f"{prefix} flush_interval = 'nan': the value must be a finite number"
    )


@pytest.mark.parametrize(
    ("line", "quoted"),
    [
        ("flush_interval = nan", "flush_interval = nan: the value must be a "
         "finite number"),
        ("buffer_size = lots", "buffer_size = None: "),
    ],
)
def test_option_errors_from_the_service_configuration(
    tmp_path: Path, line: str, quoted: str
) -> None:
    """A value from the service's own file is quoted as oslo.config read
    it; one oslo.config cannot read has no value to quote."""
    config = tmp_path / "cinder.conf"
    config.write_text(
        f"[oslo_metrics_middleware]\n{line}\n"
        f"metrics_socket_file = {tmp_path / 's.sock'}\n"
    )
    error = _load_error(
        oslo_config_project="cinder", oslo_config_file=str(config)
    )
    assert error.startswith(
        f"Invalid value for option [oslo_metrics_middleware] {quoted}"
    ), error


def test_the_fallback_label_comes_from_the_path_the_server_gave(
    sink: DatagramSink,
) -> None:
    """glance's version negotiation rewrites PATH_INFO; the label does not
    follow it, and keeps SCRIPT_NAME."""
    def negotiating(
        env: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        env["SCRIPT_NAME"], env["PATH_INFO"] = "", "/"
        start_response("200 OK", [])
        return [b""]

    mw = make_filter(negotiating, sink, route_resolvers="")
    call(mw, environ("GET", f"/servers/{SERVER}", SCRIPT_NAME="/v2.1"))
    assert recorded(mw, sink)[0][2] == "/v2.1/servers/{id}"


def test_a_filter_without_exemplars_sends_no_request_id_beside_one_with(
    sink: DatagramSink,
) -> None:
    """Two pipelines of one process share the sender, and its batches."""
    sending = make_filter(hello, sink)
    silent = make_filter(hello, sink, request_id_exemplars="false")
    assert sending.sender is silent.sender
    call(sending, environ(**{middleware.REQUEST_ID_ENVIRON: "req-1"}))
    call(silent, environ(**{middleware.REQUEST_ID_ENVIRON: "req-2"}))
    sending.sender.flush()
    [message] = [m for m in sink.messages() if m["name"] == "batch"]
    assert message["action"]["value"]["r"] == ["req-1", None]


def test_the_socket_owner_and_group_options_decide_the_trust(
    sink: DatagramSink,
) -> None:
    """A collector running as another user is trusted when the options
    name its user and group, and only then."""
    os.chown(sink.path, 54321, 54322)
    trusting = make_filter(
        hello, sink, metrics_socket_owner="54321", metrics_socket_group="54322"
    )
    call(trusting, environ())
    assert trusting.sender.trust.refusal() is None
    assert [row[3] for row in recorded(trusting, sink)] == [200]
    other_group = make_filter(
        hello, sink, metrics_socket_owner="54321", metrics_socket_group="54323"
    )
    call(other_group, environ())
    assert other_group.sender.trust.refusal() == "its group is gid 54322, not 54323"
    assert recorded(other_group, sink) == []


def test_the_application_sees_no_key_the_filter_added(sink: DatagramSink) -> None:
    # The fallback's copy of the received path travels with the request's
    # measurement, not in the environ the application shares.
    seen: list[set[str]] = []

    def app(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        seen.append(set(env))
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]

    request = environ("GET", "/v2.1/servers/abc", body=b"{}")
    before = set(request)
    call(make_filter(app, sink), request)
    assert seen == [before]
    assert set(request) == before


def test_the_route_table_matches_the_path_the_client_sent(
    sink: DatagramSink, tmp_path: Path
) -> None:
    # glance's version negotiation drops the version from PATH_INFO on the
    # way in; the operator wrote the table from the URLs clients use.
    table = tmp_path / "routes.txt"
    table.write_text("/v2/images/{image_id}\n")

    def negotiating(
        env: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        env["PATH_INFO"] = env["PATH_INFO"].removeprefix("/v2")
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    mw = make_filter(negotiating, sink, route_table_file=str(table))
    call(mw, environ("GET", "/v2/images/3f1c2d4e-aaaa-4bbb-8ccc-1234567890ab"))
    mw.sender.flush()
    assert [row[2] for row in rows(sink.messages())] == ["/v2/images/{image_id}"]
