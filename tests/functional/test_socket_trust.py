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
import stat
import subprocess
import sys
import tempfile
from typing import Any

import pytest

from oslo_metrics_middleware import spool as layout
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


def _as(user: local_users.User | None, *arguments: str) -> list[str]:
    """Python with ``arguments``, as ``user`` (None: as root)."""
    if user is None:
        return [sys.executable, *arguments]
    return [*user.command(), local_users.python().executable, *arguments]


def _env(user: local_users.User | None) -> dict[str, str] | None:
    return None if user is None else local_users.python().env


class _Shell:
    """apps/filter_shell.py as the API's user; ``grace``, its
    exit_grace_period, if not the default."""

    def __init__(
        self, user: local_users.User, path: Path, owner: str, *grace: str
    ) -> None:
        self.process = subprocess.Popen(
            _as(user, *SHELL, str(path), owner, *grace),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, cwd=REPO, env=_env(user),
        )
        self.leaving = ""

    def serve(self, requests: int) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{requests}\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        return answer

    def close(self) -> None:
        """End its input; what it logged as it left is kept in leaving."""
        _, self.leaving = self.process.communicate("", timeout=collectors.WAIT)


@contextlib.contextmanager
def _api(
    user: local_users.User, path: Path, owner: str, *grace: str
) -> Iterator[_Shell]:
    shell = _Shell(user, path, owner, *grace)
    try:
        yield shell
    finally:
        shell.close()


@contextlib.contextmanager
def _squatter(user: local_users.User, path: Path) -> Iterator[list[int]]:
    """The stranger's socket at ``path``; after the block, what reached it."""
    process = subprocess.Popen(
        _as(user, "-c", SQUATTER, str(path)),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env(user),
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
    python = local_users.python()
    return CollectorProcess(
        workdir=workdir, socket_path=path, run_as=user.command(),
        python=python.executable, env=python.env,
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


def _probe(
    user: local_users.User | None, path: Path, probe: str = ""
) -> list[str]:
    ran = subprocess.run(
        _as(user, "-c", probe or _PROBE, str(path)),
        capture_output=True, text=True, timeout=collectors.WAIT, env=_env(user),
    )
    return ran.stdout.splitlines()


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


# Tries, on the spool file at argv[1], what a user other than its writer
# and the collector might: list the spool, read the file, put a file
# beside it, remove the file, move the spool away.
_SPOOL_PROBE = """
import os, sys
path = sys.argv[1]
spool = os.path.dirname(path)
for what, call in (
    ("list", lambda: os.listdir(spool)),
    ("read", lambda: open(path, "rb").read()),
    ("write", lambda: open(os.path.join(spool, "9-9.dgrams"), "xb").close()),
    ("remove", lambda: os.unlink(path)),
    ("move", lambda: os.rename(spool, spool + ".old")),
):
    try:
        call()
        print(what + ": allowed")
    except OSError as exc:
        print(what + ": " + type(exc).__name__)
"""


def _refused_files(collector: CollectorProcess) -> list[str]:
    """What the collector logged of files it removed from the spool unread."""
    return [
        line.split(" [-] ", 1)[-1]
        for line in collector.log().splitlines() if " unread: " in line
    ]


def test_the_spool_takes_what_the_api_group_leaves_and_keeps_strangers_out(
    users: dict[str, local_users.User], shared: Path, workdir: Path
) -> None:
    """In a directory every user may write to (as /var/tmp): the spool the
    collector makes lets the API's user leave its samples there and no
    one else read, add, remove or move anything; a file that is not of
    the spool's group is not counted, and said so once."""
    path = shared / "metrics_collector.sock"
    spool = Path(f"{path}.spool")
    collector_user, api_user = users["collector"], users["api"]
    stranger = users["stranger"]
    with _collector(collector_user, workdir, path):
        pass
    found = spool.lstat()
    assert (found.st_uid, found.st_gid, stat.S_IMODE(found.st_mode)) == (
        collector_user.uid, collector_user.gid, 0o2770
    )
    with _api(api_user, path, collector_user.name, "0") as api:
        assert api.serve(5)["held"] == 5
    assert api.leaving.splitlines()[-1] == (
        f"INFO 5 metric samples kept in {spool} for the collector (not "
        f"reachable at {path} for 0.0 s)"
    )
    [spooled] = spool.iterdir()
    found = spooled.lstat()
    assert (found.st_uid, found.st_gid, stat.S_IMODE(found.st_mode)) == (
        api_user.uid, collector_user.gid, 0o640
    )
    assert _probe(stranger, spooled, _SPOOL_PROBE) == [
        "list: PermissionError", "read: PermissionError",
        "write: PermissionError", "remove: PermissionError",
        "move: PermissionError",
    ]
    # Seven requests in a file of the stranger's, as if it had got one in;
    # readable by all, so only its group keeps it out.
    planted = spool / f"0-0{layout.READY_SUFFIX}"
    planted.write_bytes(
        collectors.batch([("compute", "GET", "/v2.1/servers", 200, 0.1)] * 7)
        + b"\n"
    )
    os.chown(planted, stranger.uid, stranger.gid)
    planted.chmod(0o644)
    with _collector(collector_user, workdir, path) as collector:
        series = servers.wait_for(
            collector, lambda s: servers.requests_counted(s) >= 5,
            timeout=collectors.WAIT,
        )
        assert servers.requests_counted(series) == 5
        assert servers.total(series, servers.DROPPED) == 0
        assert list(spool.iterdir()) == []
        assert _refused_files(collector) == [
            f"Removed {planted.name} from the spool {spool} unread: its group "
            f"is gid {stranger.gid}, not the spool's (gid {collector_user.gid})"
        ]


def test_a_spool_another_api_user_made_first_gets_nothing(
    shared: Path, workdir: Path
) -> None:
    """Another service's user, in the collector's group too, makes the
    spool before the collector ever ran: the API's user leaves nothing
    in it (it would read the request ids), and the collector refuses to
    start on it."""
    with local_users.created(
        ["collector", "api", "peer"],
        member_of={"api": ["collector"], "peer": ["collector"]},
    ) as users:
        collector_user, api_user, peer = (
            users["collector"], users["api"], users["peer"]
        )
        path = shared / "metrics_collector.sock"
        spool = Path(f"{path}.spool")
        made = subprocess.run(
            _as(peer, "-c", _MAKE_SPOOL, str(spool), str(collector_user.gid)),
            capture_output=True, text=True, timeout=collectors.WAIT,
            env=_env(peer),
        )
        assert made.returncode == 0, made.stderr
        with _api(api_user, path, collector_user.name, "0") as api:
            assert api.serve(4)["held"] == 4
        assert api.leaving.splitlines()[-1] == (
            f"WARNING 4 metric samples not delivered to {path} before exit "
            f"(collector down or behind; waited 0.0 s; spool {spool} "
            f"refused: it is owned by {peer.name} (uid {peer.uid}), not "
            f"{collector_user.name}, root or {api_user.name} (uid "
            f"{api_user.uid}))"
        )
        assert list(spool.iterdir()) == []
        assert collectors.error(_collector(collector_user, workdir, path)) == (
            f"spool {spool} is owned by uid {peer.uid}, not by this "
            f"collector's {collector_user.uid}; refusing to use it"
        )


# Makes the directory argv[1] as the collector would, in the group argv[2].
_MAKE_SPOOL = """
import os, sys
os.mkdir(sys.argv[1])
os.chown(sys.argv[1], -1, int(sys.argv[2]))
os.chmod(sys.argv[1], 0o2770)
"""
