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

"""One WSGI app with every case of the conformance suite, by path.

``conformance_app.application`` is this app, bare or behind the metrics
filter (see there).  Either way an outer
layer, between the server and the rest, appends one line per request to
``CONFORMANCE_LOG`` with what the server got back: its kind (list, tuple,
list subclass, the server's own file wrapper, or another iterable) and
its length when it has one.  A filter that hid the type or the length
from the server shows there even when the bytes on the wire agree.

Request-body cases answer with every piece the app read, joined by
``|``, so the response shows both the bytes and the shape of the reads.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
import io
import json
import os
from typing import Any

SOCKET_ENV = "CONFORMANCE_SOCKET"
LOG_ENV = "CONFORMANCE_LOG"
FILE_ENV = "CONFORMANCE_FILE"
StartResponse = Callable[..., Any]
Env = dict[str, Any]


class CaseError(RuntimeError):
    """Raised by the exception cases."""


class Chunks(list[bytes]):
    """A list subclass body, as some frameworks return."""


class Sized:
    """An iterable with a length but no list type."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def __len__(self) -> int:
        return len(self.chunks)


class RaisingIter:
    def __iter__(self) -> Iterator[bytes]:
        raise CaseError("in __iter__")


class RaisingClose:
    def __init__(self) -> None:
        self.chunks = iter([b"body before a failing close"])

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks

    def close(self) -> None:
        raise CaseError("in close()")


def _reads(stream: Any, env: Env) -> list[bytes]:
    """What the app reads, by the read case named in PATH_INFO."""
    how = env["PATH_INFO"].rsplit("/", 2)[-2]
    if how == "read":
        return [stream.read()]
    if how == "read_n":
        # Never past CONTENT_LENGTH: wsgiref's input is the bare socket.
        left = int(env.get("CONTENT_LENGTH") or 1 << 30)
        pieces = []
        while left and (piece := stream.read(min(7, left))):
            pieces.append(piece)
            left -= len(piece)
        return pieces
    if how == "readline":
        lines = []
        while line := stream.readline():
            lines.append(line)
        return lines
    if how == "readlines":
        return list(stream.readlines())
    if how == "iter":
        return list(stream)
    if how == "json":
        return [json.dumps(json.load(stream), sort_keys=True).encode()]
    raise KeyError(how)


def body_case(env: Env, start_response: StartResponse) -> Iterable[bytes]:
    answer = b"|".join(_reads(env["wsgi.input"], env))
    start_response("200 OK", [("Content-Length", str(len(answer)))])
    return [answer]


def expect_ignore(env: Env, start_response: StartResponse) -> Iterable[bytes]:
    # Refuses before reading, as on a failed policy check.
    start_response("403 Forbidden", [("Content-Length", "2")])
    return [b"no"]


def _plain(status: str = "200 OK") -> Callable[[StartResponse], None]:
    def start(start_response: StartResponse) -> None:
        start_response(status, [("Content-Type", "text/plain")])

    return start


class CountedFile(io.FileIO):
    """A file that logs how often it was read: never, under sendfile."""

    reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        return super().read(size)

    def close(self) -> None:
        if not self.closed:
            _log(os.environ[LOG_ENV], f"file closed after {self.reads} reads")
        super().close()


def _file(env: Env) -> Any:
    return env["wsgi.file_wrapper"](CountedFile(os.environ[FILE_ENV]), 8192)


def _generator() -> Iterator[bytes]:
    yield b"gen-one "
    yield b"gen-two"


def _midstream() -> Iterator[bytes]:
    yield b"first part "
    raise CaseError("mid-stream")


STATUS_ONLY = {"204": "204 No Content", "304": "304 Not Modified"}
RESPONSES: dict[str, Callable[[Env], Any]] = {
    "list": lambda env: [b"a", b"bc"],
    "list1": lambda env: [b"one item"],
    "tuple": lambda env: (b"tuple item",),
    "list_subclass": lambda env: Chunks([b"subclass item"]),
    "generator": lambda env: _generator(),
    "sized": lambda env: Sized(b"sized item"),
    "file_wrapper": _file,
    "iter_raises": lambda env: RaisingIter(),
    "midstream_raises": lambda env: _midstream(),
    "close_raises": lambda env: RaisingClose(),
}


def app(env: Env, start_response: StartResponse) -> Iterable[bytes]:
    path = env["PATH_INFO"]
    case = path.rsplit("/", 1)[-1]
    if path.startswith("/v2.1/servers/"):
        return body_case(env, start_response)
    if case == "expect_ignore":
        return expect_ignore(env, start_response)
    if case == "call_raises":
        raise CaseError("at call")
    if case == "write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        write(b"then returned")
        return []
    if case in STATUS_ONLY:
        start_response(STATUS_ONLY[case], [])
        return []
    if case in RESPONSES:
        _plain()(start_response)
        return RESPONSES[case](env)
    start_response("200 OK", [("Content-Length", "4")])
    return [b"pong"]


def _kind(result: Any, made: list[Any]) -> str:
    if made and result is made[0]:
        return "server-file-wrapper"
    if type(result) in (list, tuple):
        return type(result).__name__
    if isinstance(result, list):
        return f"list-subclass:{type(result).__name__}"
    return "iterable"


def _log(path: str, line: str) -> None:
    with open(path, "a") as log:
        log.write(line + "\n")


def observed(inner: Any) -> Any:
    """``inner`` with what it returns to the server logged per request."""
    log_path = os.environ[LOG_ENV]

    def outer(env: Env, start_response: StartResponse) -> Iterable[bytes]:
        made: list[Any] = []
        server_wrapper = env.get("wsgi.file_wrapper")
        if server_wrapper is not None:
            def recording(*args: Any) -> Any:
                made.append(server_wrapper(*args))
                return made[-1]

            env["wsgi.file_wrapper"] = recording
        request = f"{env['REQUEST_METHOD']} {env['PATH_INFO']}"
        try:
            result = inner(env, start_response)
        except BaseException:
            _log(log_path, f"{request} raised -")
            raise
        finally:
            if server_wrapper is not None:
                env["wsgi.file_wrapper"] = server_wrapper
        size = len(result) if hasattr(type(result), "__len__") else "-"
        _log(log_path, f"{request} {_kind(result, made)} {size}")
        return result

    return outer
