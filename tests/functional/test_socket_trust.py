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

"""No local user receives or forges what is not theirs, as distinct users.

Three users are made for each test: the collector's, an API's (a member of
the collector's group, as the deployment guide says) and a stranger's.
Each process runs as its user through setpriv: the real collector, an API
process with the filter (apps/filter_shell.py) and the stranger's socket.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import json
import os
from pathlib import Path
import shutil
import socket
import subprocess
import sys
import tempfile
from typing import Any

import pytest

from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import collectors
from tests.functional import local_users
from tests.functional import servers

REPO = Path(__file__).resolve().parents[2]
SHELL = ("-m", "tests.functional.apps.filter_shell")
# Binds the path it is given, lets anyone send to it, and on end of input
# prints how many datagrams reached it.
SQUATTER = """
import os, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
sock.setblocking(False)
print("bound", flush=True)
sys.stdin.read()
count = 0
while True:
    try:
        sock.recv(1 << 18)
    except BlockingIOError:
        break
    count += 1
print(count, flush=True)
"""


@pytest.fixture
def users() -> Iterator[dict[str, local_users.User]]:
    with local_users.created(
        ["collector", "api", "stranger"], member_of={"api": ["collector"]}
    ) as made:
        yield made


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory every user may write to, sticky like /var/tmp."""
    directory = Path(tempfile.mkdtemp(prefix="omm-shared-", dir="/tmp"))
    directory.chmod(0o1777)
    yield directory
    shutil.rmtree(directory)


@pytest.fixture
def workdir() -> Iterator[Path]:
    """Configuration and logs, readable by the collector's user."""
    directory = Path(tempfile.mkdtemp(prefix="omm-work-", dir="/tmp"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory)


class _Shell:
    """apps/filter_shell.py as the API's user."""

    def __init__(self, user: local_users.User, path: Path, owner: str) -> None:
        self.process = subprocess.Popen(
            [*user.command(), sys.executable, *SHELL, str(path), owner],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
        )

    def serve(self, requests: int) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{requests}\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        return answer

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(collectors.WAIT)


@contextlib.contextmanager
def _api(user: local_users.User, path: Path, owner: str) -> Iterator[_Shell]:
    shell = _Shell(user, path, owner)
    try:
        yield shell
    finally:
        shell.close()


@contextlib.contextmanager
def _squatter(user: local_users.User, path: Path) -> Iterator[list[int]]:
    """The stranger's socket at ``path``; after the block, what reached it."""
    process = subprocess.Popen(
        [*user.command(), sys.executable, "-c", SQUATTER, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    assert process.stdout.readline() == "bound\n"
    received: list[int] = []
    try:
        yield received
    finally:
        output, _ = process.communicate("", timeout=collectors.WAIT)
        received.append(int(output))


def _collector(
    user: local_users.User, workdir: Path, path: Path
) -> CollectorProcess:
    return CollectorProcess(
        workdir=workdir, socket_path=path, run_as=user.command()
    )


def test_squatted_socket_gets_nothing_and_the_loss_is_counted(
    users: dict[str, local_users.User], shared: Path, workdir: Path
) -> None:
    path = shared / "metrics_collector.sock"
    collector_user, api_user = users["collector"], users["api"]
    stranger = users["stranger"]
    refusal = (
        f"ERROR Not sending metrics to {path}: it is owned by "
        f"{stranger.name} (uid {stranger.uid}), not {collector_user.name}, "
        f"root or {api_user.name} (uid {api_user.uid}); samples are dropped "
        "and counted with reason untrusted_socket until the socket is replaced"
    )
    with _api(api_user, path, collector_user.name) as api:
        with _squatter(stranger, path) as received:
            # The collector will not take a socket someone listens on ...
            assert collectors.error(_collector(collector_user, workdir, path)) == (
                f"socket {path} is in use by a running process (another "
                "collector?); refusing to take it over"
            )
            # ... and the API will not send to it.
            assert api.serve(5) == {
                "delivered": 0, "held": 0, "dropped": {"untrusted_socket": 5},
                "log": [refusal],
            }
            assert api.serve(7)["dropped"] == {"untrusted_socket": 12}
        assert received == [0]
        # The stranger's socket file stays in the sticky directory, where
        # the collector may not remove it: one line, no traceback.
        assert collectors.error(_collector(collector_user, workdir, path)) == (
            f"cannot remove the stale socket {path} (owned by uid "
            f"{stranger.uid}): Operation not permitted; remove it as its "
            "owner or root, or choose another metrics_socket_file"
        )
        assert path.lstat().st_uid == stranger.uid
        path.unlink()  # the operator, as root
        with _collector(collector_user, workdir, path) as collector:
            answer = api.serve(3)
            assert answer == {
                "delivered": 3, "held": 0, "dropped": {},
                "log": [refusal, f"INFO Metrics socket {path} is trusted again"],
            }
            series = servers.wait_for(
                collector,
                lambda s: servers.requests_counted(s) >= 3
                and servers.total(s, servers.DROPPED) >= 12,
                timeout=collectors.WAIT,
            )
    # Every request: 3 counted, 12 dropped under their reason.
    assert servers.requests_counted(series) == 3
    assert servers.value(
        series, servers.DROPPED, service="", reason="untrusted_socket"
    ) == 12
    assert servers.total(series, servers.DROPPED) == 12


def test_private_directory_lets_the_api_group_in_and_keeps_strangers_out(
    users: dict[str, local_users.User], workdir: Path
) -> None:
    collector_user, api_user = users["collector"], users["api"]
    stranger = users["stranger"]
    # What systemd makes of RuntimeDirectory= with the shipped unit.
    runtime = workdir / "run"
    runtime.mkdir(mode=0o750)
    os.chown(runtime, collector_user.uid, collector_user.gid)
    path = runtime / "metrics_collector.sock"
    with _collector(collector_user, workdir, path) as collector:
        found = path.lstat()
        assert (found.st_uid, found.st_gid) == (
            collector_user.uid, collector_user.gid
        )
        with _api(api_user, path, collector_user.name) as api:
            assert api.serve(4) == {
                "delivered": 4, "held": 0, "dropped": {}, "log": [],
            }
        series = servers.wait_for(
            collector, lambda s: servers.requests_counted(s) >= 4,
            timeout=collectors.WAIT,
        )
        assert servers.requests_counted(series) == 4
        # The API's group may send and look, not put a file there; the
        # stranger may do none of it.
        assert _probe(api_user, path) == [
            "send: allowed", "bind: PermissionError", "list: allowed",
        ]
        assert _probe(stranger, path) == [
            "send: PermissionError", "bind: PermissionError",
            "list: PermissionError",
        ]
        assert path.lstat().st_ino == found.st_ino


def _probe(user: local_users.User | None, path: Path) -> list[str]:
    prefix = user.command() if user is not None else []
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", _PROBE, str(path)],
        capture_output=True, text=True, timeout=collectors.WAIT,
    )
    return probe.stdout.splitlines()


# Tries to send to the socket at argv[1], to bind a socket beside it and
# to list its directory.
_PROBE = """
import os, socket, sys
for what, call in (
    ("send", lambda s: s.sendto(b"{}", sys.argv[1])),
    ("bind", lambda s: s.bind(os.path.join(os.path.dirname(sys.argv[1]), "x"))),
    ("list", lambda s: os.listdir(os.path.dirname(sys.argv[1]))),
):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        try:
            call(s)
            print(what + ": allowed")
        except OSError as exc:
            print(what + ": " + type(exc).__name__)
"""


def test_probe_reports_what_it_may_do(tmp_path: Path) -> None:
    # The probe above says "allowed" when allowed, so its refusals mean
    # something: root may do all three.
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(tmp_path / "s"))
        assert _probe(None, tmp_path / "s") == [
            "send: allowed", "bind: allowed", "list: allowed",
        ]
