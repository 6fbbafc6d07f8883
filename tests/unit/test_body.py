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

"""The filter hands the app and the server exactly what they would get without it."""

from __future__ import annotations

import ast
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
import io
from pathlib import Path
from typing import Any
from wsgiref.util import FileWrapper

import pytest

from oslo_metrics_middleware import body
from tests.functional.apps.conformance import Chunks
from tests.functional.apps.conformance import Sized
from tests.unit.conftest import DatagramSink
from tests.unit.conftest import make_filter
from tests.unit.conftest import rows
from tests.wsgi import call
from tests.wsgi import environ

ACTION_PATH = "/v2.1/servers/0a6e5bb3-3f4c-4b7e-9c0d-6c2a4d1f8e21/action"
StartResponse = Callable[..., Any]


class RecordingInput(io.BytesIO):
    """A server's wsgi.input that records the shape of every call."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def read(self, *args: Any) -> bytes:
        self.calls.append(("read", args))
        return super().read(*args)

    def readline(self, *args: Any) -> bytes:
        self.calls.append(("readline", args))
        return super().readline(*args)

    def readlines(self, *args: Any) -> list[bytes]:
        self.calls.append(("readlines", args))
        return super().readlines(*args)


READERS: dict[str, Callable[[Any], bytes]] = {
    "read()": lambda s: s.read(),
    "read(None)": lambda s: s.read(None),
    "read(n)": lambda s: s.read(3) + s.read(100),
    "readline()": lambda s: s.readline() + s.readline(),
    "readline(n)": lambda s: s.readline(2),
    "readlines()": lambda s: b"".join(s.readlines()),
    "readlines(hint)": lambda s: b"".join(s.readlines(4)),
}


@pytest.mark.parametrize("action_label", ["false", "true"])
@pytest.mark.parametrize("reader", sorted(READERS))
def test_request_body_calls_reach_the_server_in_the_apps_shape(
    sink: DatagramSink, reader: str, action_label: str
) -> None:
    body = b'{"reboot": {}}\nline two\n'
    seen: dict[str, Any] = {}

    def app(env: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        seen["data"] = READERS[reader](env["wsgi.input"])
        start_response("200 OK", [])
        return []

    def served(application: Any) -> tuple[bytes, list[Any]]:
        stream = RecordingInput(body)
        call(application, environ("POST", ACTION_PATH, body, **{"wsgi.input": stream}))
        return seen["data"], stream.calls

    bare = served(app)
    mw = make_filter(app, sink, action_label=action_label)
    assert served(mw) == bare
    mw.sender.flush()
    [row] = rows(sink.messages())
    assert row[5] == len(bare[0])


def test_action_label_never_reads_ahead_of_the_app(sink: DatagramSink) -> None:
    class Failing(io.BytesIO):
        def read(self, *args: Any) -> bytes:
            raise OSError("client went away")

    def rejects(env: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        # Answers without reading, as on a failed policy check.
        start_response("403 Forbidden", [])
        return [b"no"]

    mw = make_filter(rejects, sink, action_label="true")
    env = environ("POST", ACTION_PATH, b'{"reboot": {}}', **{"wsgi.input": Failing()})
    assert call(mw, env) == ("403 Forbidden", b"no")
    mw.sender.flush()
    [row] = rows(sink.messages())
    assert (row[3], row[8]) == (403, "__other__")


def test_action_of_a_chunked_body(sink: DatagramSink) -> None:
    def reads(env: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        env["wsgi.input"].read()
        start_response("202 Accepted", [])
        return []

    mw = make_filter(reads, sink, action_label="true")
    body = b'{"os-stop": null}'
    env = environ("POST", ACTION_PATH, body, HTTP_TRANSFER_ENCODING="chunked")
    del env["CONTENT_LENGTH"]
    call(mw, env)
    mw.sender.flush()
    [row] = rows(sink.messages())
    assert (row[5], row[8]) == (len(body), "os-stop")


def _returning(body: Iterable[bytes]) -> Callable[..., Iterable[bytes]]:
    def app(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])
        return body

    return app


def test_list_subclass_reaches_the_server_as_is(sink: DatagramSink) -> None:
    body = Chunks([b"abc"])
    mw = make_filter(_returning(body), sink)
    assert mw(environ(), lambda *a: None) is body
    mw.sender.flush()
    [row] = rows(sink.messages())
    assert (row[3], row[6]) == (200, 3)


def test_sized_iterable_keeps_its_length(sink: DatagramSink) -> None:
    mw = make_filter(_returning(Sized(b"abc")), sink)
    assert call(mw, environ()) == ("200 OK", b"abc")
    result = mw(environ(), lambda *a: None)
    assert len(result) == 1  # type: ignore[arg-type]
    # eventlet sums the lengths in one pass and sends in another.
    assert sum(map(len, result)) == 3
    assert b"".join(result) == b"abc"
    result.close()  # type: ignore[attr-defined]
    mw.sender.flush()
    assert [row[6] for row in rows(sink.messages())] == [3, 3]


def test_server_file_wrapper_result_reaches_the_server_as_is(
    sink: DatagramSink, tmp_path: Path
) -> None:
    data = tmp_path / "image"
    data.write_bytes(b"x" * 5000)
    files: list[Any] = []

    def serve_file(env: dict[str, Any], start_response: StartResponse) -> Any:
        start_response("200 OK", [])
        files.append(open(data, "rb"))  # noqa: SIM115 closed by the server
        return env["wsgi.file_wrapper"](files[-1], 1024)

    mw = make_filter(serve_file, sink)
    env = environ(**{"wsgi.file_wrapper": FileWrapper})
    result = mw(env, lambda *a: None)
    assert type(result) is FileWrapper
    # Read back by servers after the call (gunicorn's sendfile check).
    assert env["wsgi.file_wrapper"] is FileWrapper
    mw.sender.flush()
    assert rows(sink.messages()) == []  # timed until the server closes it
    result.close()  # as a server does after sendfile, reading nothing
    assert files[0].closed
    mw.sender.flush()
    [row] = rows(sink.messages())
    assert (row[3], row[6]) == (200, 5000)


def test_raising_iter_is_recorded_as_500(sink: DatagramSink) -> None:
    class Broken:
        def __iter__(self) -> Iterator[bytes]:
            raise ValueError("no body")

        def close(self) -> None:
            pass

    mw = make_filter(_returning(Broken()), sink)
    with pytest.raises(ValueError, match="no body"):
        call(mw, environ())
    mw.sender.flush()
    [row] = rows(sink.messages())
    assert (row[3], row[7]) == (500, "ValueError")


def test_body_imports_nothing_of_the_filter() -> None:
    """The wrappers sit below the filter: no import leads back up to it."""
    tree = ast.parse(Path(body.__file__).read_text())
    imported = [
        node.module for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    ] + [
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
        for alias in node.names
    ]
    assert not [name for name in imported if name.startswith("oslo_metrics")]


def test_body_types_beyond_the_remembered_ones_keep_their_length(
    sink: DatagramSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oslo_metrics_middleware import middleware

    monkeypatch.setattr(middleware, "_METERED_BY_TYPE", {})
    monkeypatch.setattr(middleware, "_MAX_BODY_TYPES", 2)
    # Fresh classes: each is a type the filter has not seen.
    bodies: list[Iterable[bytes]] = [
        type(f"Sized{n}", (Sized,), {})(b"abc") for n in range(3)
    ]
    bodies.append(iter([b"ab", b"c"]))

    def app(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])
        return bodies.pop(0)

    mw = make_filter(app, sink)
    sized = []
    for _ in range(4):
        result = mw(environ(), lambda *a: None)
        sized.append(hasattr(result, "__len__"))
        assert b"".join(result) == b"abc"
        result.close()  # type: ignore[attr-defined]
    assert sized == [True, True, True, False]
    # Only so many types are remembered; the others are looked at anew.
    assert list(middleware._METERED_BY_TYPE.values()) == [
        body.SizedMeteredBody, body.SizedMeteredBody
    ]
    mw.sender.flush()
    assert [row[6] for row in rows(sink.messages())] == [3, 3, 3, 3]
