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

"""The filter is invisible: each real server, bare app vs app behind the filter.

Each server is started twice on the conformance app
(tests/functional/apps/conformance.py), once bare and once behind the
filter, and every case is sent from a raw socket.  The whole exchange is
compared byte for byte (status line, headers, framing, body; only Date
is blanked), as is what the app read (echoed in the body) and what the
server got back from the app (its type and length, from the app's log).
One server start serves every case.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import contextlib
import os
from pathlib import Path
import re
import shutil
import socket
import tempfile
import time
from typing import Any
from typing import NamedTuple

import pytest

from tests.functional import servers
from tests.functional.apps import conformance

APP = "tests.functional.apps.conformance_app:application"
HOST = b"Host: 127.0.0.1\r\n"
# Waiting for a 100 Continue the server may never send (wsgiref).
INTERIM_WAIT = 3.0
CASE_TIMEOUT = 10.0
BODY = (
    b'{"reboot": {\n  "type": "HARD"\n},\n  "note": "'
    + b"x" * 300
    + b'"\n}\n'
)
FILE_BODY = os.urandom(200_000)
PING = b"GET /r/ping HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n"
READS = ("read", "read_n", "readline", "readlines", "iter", "json")
RESPONSES = (*conformance.RESPONSES, *conformance.STATUS_ONLY, "write", "call_raises")
# The server may close the connection after these: nothing pipelined.
CLOSING = ("iter_raises", "midstream_raises", "close_raises", "call_raises")


class Case(NamedTuple):
    head: bytes
    body: bytes
    expect: bool = False
    then_ping: bool = True


def _post(path: str, chunked: bool, expect: bool = False) -> Case:
    head = (
        f"POST {path} HTTP/1.1\r\n".encode() + HOST
        + b"Content-Type: application/json\r\n"
        + b"OpenStack-API-Version: compute 2.79\r\n"
    )
    if expect:
        # The body is sent only once the server has had its say; what
        # follows it is not a request, so the connection ends there.
        head += b"Expect: 100-continue\r\nConnection: close\r\n"
    if chunked:
        half = len(BODY) // 2
        body = b"".join(
            b"%x\r\n%s\r\n" % (len(part), part)
            for part in (BODY[:half], BODY[half:])
        ) + b"0\r\n\r\n"
        head += b"Transfer-Encoding: chunked\r\n\r\n"
    else:
        body = BODY
        head += b"Content-Length: %d\r\n\r\n" % len(BODY)
    return Case(head, body, expect, then_ping=not expect)


def _get(name: str, method: str = "GET") -> Case:
    closing = name in CLOSING
    head = f"{method} /r/{name} HTTP/1.1\r\n".encode() + HOST
    if closing:
        head += b"Connection: close\r\n"
    return Case(head + b"\r\n", b"", then_ping=not closing)


def cases(full_input: bool) -> dict[str, Case]:
    """Every case; without ``full_input`` only those a server whose
    wsgi.input is the bare socket (wsgiref) can serve: no chunked bodies,
    no reads past the body."""
    found: dict[str, Case] = {}
    framings = (False, True) if full_input else (False,)
    for how in READS if full_input else ("read_n",):
        for chunked in framings:
            framing = "chunked" if chunked else "length"
            found[f"{how}-{framing}"] = _post(
                f"/v2.1/servers/1/{how}/action", chunked
            )
    for name in RESPONSES:
        found[name] = _get(name)
    found["head-list1"] = _get("list1", "HEAD")
    found["head-generator"] = _get("generator", "HEAD")
    if full_input:
        found["expect-read"] = _post("/v2.1/servers/1/read/action", False, True)
    found["expect-ignore"] = _post("/r/expect_ignore", False, True)
    return found


def _read_until(
    sock: socket.socket, done: Callable[[bytes], bool], timeout: float
) -> bytes:
    received = b""
    deadline = time.monotonic() + timeout
    while not done(received):
        left = deadline - time.monotonic()
        if left <= 0:
            return received + b"<timeout>"
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionError:
            return received + b"<reset>"
        if not data:
            return received
        received += data
    return received


def _has_final_status(data: bytes) -> bool:
    statuses = re.findall(rb"HTTP/1\.\d (\d)\d\d", data)
    return any(status != b"1" for status in statuses)


def exchange(port: int, case: Case) -> bytes:
    """The raw bytes a client gets for ``case``, then a ping on the same connection."""
    rest = case.body + (PING if case.then_ping else b"")
    with socket.create_connection(("127.0.0.1", port), timeout=CASE_TIMEOUT) as sock:
        received = b""
        if case.expect:
            sock.sendall(case.head)
            received = _read_until(
                sock, lambda d: b"\r\n\r\n" in d, INTERIM_WAIT
            ).removesuffix(b"<timeout>")
            if _has_final_status(received):
                rest = b""
        else:
            rest = case.head + rest
        with contextlib.suppress(OSError):  # closed: what came is the answer
            sock.sendall(rest)
        received += _read_until(sock, lambda d: False, CASE_TIMEOUT)
    return merge_chunks(re.sub(rb"(?m)^Date: [^\r\n]*", b"Date: -", received))


def merge_chunks(data: bytes) -> bytes:
    """``data`` with each chunked body as one marked block.

    Chunk boundaries carry no meaning and follow timing (Apache's daemon
    mode passes writes on as they come); that a body was chunked, and its
    bytes, stay.
    """
    out = b""
    pos = 0
    while (end := data.find(b"\r\n\r\n", pos)) >= 0:
        head = data[pos:end + 4]
        out += head
        pos = end + 4
        if b"transfer-encoding: chunked" not in head.lower():
            continue
        body = b""
        while True:
            line_end = data.find(b"\r\n", pos)
            try:
                size = int(data[pos:line_end].split(b";")[0], 16)
            except ValueError:
                size = -1
            if line_end < 0 or size < 0:
                # Cut short (an error mid-stream): the rest as it came.
                return out + b"<chunked>" + body + data[pos:]
            pos = line_end + 2 + size + 2
            if size == 0:
                break
            body += data[line_end + 2:line_end + 2 + size]
        out += b"<chunked>" + body + b"</chunked>"
    return out + data[pos:]


ServerFactory = Callable[[Path, dict[str, str]], servers.ServerProcess]


def _python(kind: str) -> ServerFactory:
    return lambda workdir, env: servers.python_server(
        "conformance_server", workdir, env, kind
    )


class Server(NamedTuple):
    start: ServerFactory
    # wsgi.input stops at the end of the body (not wsgiref's bare socket).
    full_input: bool = True
    # Cases the server itself hangs on, with or without the filter: its
    # input reads past the body into the next pipelined request.
    hangs: tuple[str, ...] = ()
    # It sends a wsgi.file_wrapper body with sendfile, never reading it.
    sendfile: bool = False


SERVERS = {
    "wsgiref": Server(_python("wsgiref"), full_input=False),
    "eventlet": Server(_python("eventlet"), hangs=("readlines-length",)),
    "cheroot": Server(
        _python("cheroot"), hangs=("readline-chunked", "iter-length")
    ),
    "waitress": Server(_python("waitress")),
    "gunicorn-sync": Server(
        lambda w, e: servers.gunicorn_server(w, e, workers=1, app=APP),
        sendfile=True,
    ),
    "gunicorn-gthread": Server(
        lambda w, e: servers.gunicorn_server(
            w, e, workers=1, app=APP,
            extra=["--worker-class", "gthread", "--threads", "4"],
        ),
        sendfile=True,
    ),
    "uwsgi": Server(
        lambda w, e: servers.uwsgi_server(w, e, processes=1, app=APP),
        sendfile=True,
    ),
    "apache-mod_wsgi": Server(
        lambda w, e: servers.apache_server(w, e, app=APP), sendfile=True
    ),
}


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every user can use: Apache's workers are not root.

    Sticky, like /tmp: the filter sends to no socket in a directory where
    another user could have replaced it.
    """
    path = Path(tempfile.mkdtemp(prefix="conformance-"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Run(NamedTuple):
    transcripts: dict[str, bytes]
    app_log: list[str]
    rows: list[list[Any]]


def run(
    name: str,
    workdir: Path,
    env: dict[str, str],
    rows: servers.DatagramCollector | None = None,
) -> Run:
    """Every case against one start of server ``name``."""
    workdir.mkdir(mode=0o777)
    workdir.chmod(0o1777)
    log = workdir / "app.log"
    log.touch()
    log.chmod(0o666)
    env = {**env, conformance.LOG_ENV: str(log)}
    server_kind = SERVERS[name]
    todo = {
        case_name: case
        for case_name, case in cases(server_kind.full_input).items()
        if case_name not in server_kind.hangs
    }
    with server_kind.start(workdir, env) as server:
        transcripts = {
            case_name: exchange(server.port, case)
            for case_name, case in todo.items()
        }
        app_log = [
            line for line in log.read_text().splitlines()
            if "/healthcheck" not in line
        ]
        served = sum(1 for line in app_log if not line.startswith("file "))
        # Before the server stops: a SIGTERM ends some without atexit.
        if rows:
            rows.wait(served)
    return Run(transcripts, app_log, list(rows.rows) if rows else [])


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_exchanges_are_identical_behind_the_filter(
    name: str, shared_dir: Path
) -> None:
    if name == "apache-mod_wsgi" and not servers.APACHE.exists():
        pytest.skip("apache2 and libapache2-mod-wsgi-py3 are not installed")
    served = shared_dir / "served.bin"
    served.write_bytes(FILE_BODY)
    served.chmod(0o644)
    env = {conformance.FILE_ENV: str(served), "PYTHONDONTWRITEBYTECODE": "1"}
    bare = run(name, shared_dir / "bare", env)
    env[conformance.SOCKET_ENV] = str(shared_dir / "metrics.sock")
    with servers.DatagramCollector(shared_dir / "metrics.sock") as rows:
        filtered = run(name, shared_dir / "filtered", env, rows)

    differing = {
        case: {"bare": got, "filtered": filtered.transcripts[case]}
        for case, got in bare.transcripts.items()
        if got != filtered.transcripts[case]
    }
    assert differing == {}, "\n".join(
        f"{case}:\n  bare:     {both['bare']!r}\n  filtered: {both['filtered']!r}"
        for case, both in differing.items()
    )
    assert filtered.app_log == bare.app_log
    # Every request the app served is recorded once, none as a client
    # that went away.
    served = [line for line in filtered.app_log if not line.startswith("file ")]
    assert len(filtered.rows) == len(served)
    assert [row for row in filtered.rows if row[3] == 499] == []
    if SERVERS[name].sendfile:
        assert "file closed after 0 reads" in filtered.app_log
        # Timed until the server closed it, and sized from the file.
        [file_row] = [row for row in filtered.rows if row[2] == "/r/file_wrapper"]
        assert (file_row[3], file_row[6]) == (200, len(FILE_BODY))
