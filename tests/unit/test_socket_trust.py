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

"""The trust verdict on a socket: who owns it, who could have replaced it.

Ownership is set with chown to uids no user has, so these run as root.
"""

from __future__ import annotations

from collections.abc import Iterator
import logging
import os
from pathlib import Path
import socket

import pytest

from oslo_metrics_middleware import socket_trust
from oslo_metrics_middleware import transport
from tests.unit.conftest import NO_INLINE
from tests.unit.conftest import ROW
from tests.unit.conftest import SAMPLE
from tests.unit.conftest import DatagramSink
from tests.unit.conftest import rows

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")

# No user or group has these ids on the test machine.
STRANGER = 54321
COLLECTOR = 54322


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    found = tmp_path / "run"
    found.mkdir(mode=0o750)
    return found


@pytest.fixture
def bound(directory: Path) -> Iterator[Path]:
    """A socket someone listens on, owned by root for now."""
    path = directory / "metrics.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        yield path


def _rebind(path: Path) -> socket.socket:
    """Replace the socket file by another one: a new inode."""
    path.unlink()
    replacement = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    replacement.bind(str(path))
    return replacement


def test_root_owned_socket_in_a_private_directory_is_trusted(bound: Path) -> None:
    assert socket_trust.SocketTrust(str(bound)).refusal() is None


def test_configured_owner_is_trusted(bound: Path) -> None:
    os.chown(bound, COLLECTOR, COLLECTOR)
    trust = socket_trust.SocketTrust(str(bound), owner=str(COLLECTOR))
    assert trust.refusal() is None


def test_socket_of_another_user_is_refused(bound: Path) -> None:
    os.chown(bound, STRANGER, STRANGER)
    trust = socket_trust.SocketTrust(str(bound), owner=str(COLLECTOR))
    assert trust.refusal() == (
        f"it is owned by uid {STRANGER}, not {COLLECTOR} or root"
    )


def test_unknown_owner_name_is_said_in_the_refusal(bound: Path) -> None:
    os.chown(bound, STRANGER, STRANGER)
    trust = socket_trust.SocketTrust(str(bound), owner="no-such-user-x")
    assert trust.refusal() == (
        f"it is owned by uid {STRANGER}, not no-such-user-x (no such user) "
        "or root"
    )


def test_empty_owner_trusts_only_root_and_itself(bound: Path) -> None:
    os.chown(bound, COLLECTOR, COLLECTOR)
    trust = socket_trust.SocketTrust(str(bound), owner="")
    assert trust.refusal() == (
        f"it is owned by uid {COLLECTOR}, not root"
    )


def test_group_is_checked_when_configured(bound: Path) -> None:
    os.chown(bound, 0, STRANGER)
    wrong = socket_trust.SocketTrust(str(bound), group=str(COLLECTOR))
    assert wrong.refusal() == f"its group is gid {STRANGER}, not {COLLECTOR}"
    right = socket_trust.SocketTrust(str(bound), group=str(STRANGER))
    assert right.refusal() is None


def test_world_writable_directory_without_sticky_bit_is_refused(
    directory: Path, bound: Path
) -> None:
    directory.chmod(0o777)
    assert socket_trust.SocketTrust(str(bound)).refusal() == (
        f"its directory {directory} is writable by every user and not "
        "sticky, so anyone could replace the socket"
    )


def test_sticky_directory_keeps_the_owners_guarantee(
    directory: Path, bound: Path
) -> None:
    # /var/tmp's mode: only the socket's (trusted) owner may replace it.
    directory.chmod(0o1777)
    assert socket_trust.SocketTrust(str(bound)).refusal() is None


def test_directory_of_another_user_is_refused(
    directory: Path, bound: Path
) -> None:
    os.chown(directory, STRANGER, STRANGER)
    assert socket_trust.SocketTrust(str(bound)).refusal() == (
        f"its directory {directory} belongs to uid {STRANGER}, who could "
        "replace the socket"
    )


def test_every_directory_above_is_checked(directory: Path) -> None:
    inner = directory / "inner"
    inner.mkdir()
    path = inner / "metrics.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        directory.chmod(0o777)  # the parent's owner could rename 'inner'
        assert socket_trust.SocketTrust(str(path)).refusal() == (
            f"its directory {directory} is writable by every user and not "
            "sticky, so anyone could replace the socket"
        )


def test_missing_socket_or_other_file_is_left_to_the_sender(
    directory: Path,
) -> None:
    path = directory / "metrics.sock"
    assert socket_trust.SocketTrust(str(path)).refusal() is None
    path.write_text("")
    os.chown(path, STRANGER, STRANGER)
    assert socket_trust.SocketTrust(str(path)).refusal() is None


def test_verdict_is_made_again_only_when_the_file_changes(
    bound: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trust = socket_trust.SocketTrust(str(bound), owner=str(COLLECTOR))
    judged = []
    judge = trust._judge
    monkeypatch.setattr(trust, "_judge", lambda found: judged.append(1) or judge(found))
    for _ in range(1000):
        assert trust.refusal() is None
    assert len(judged) == 1
    with _rebind(bound):
        os.chown(bound, STRANGER, STRANGER)
        for _ in range(1000):
            assert trust.refusal() is not None
    assert len(judged) == 2
    # A chown changes the ctime of the same inode: judged again.
    bound.unlink()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as again:
        again.bind(str(bound))
        assert trust.refusal() is None
        os.chown(bound, STRANGER, STRANGER)
        assert trust.refusal() is not None
    assert len(judged) == 4


def test_refusal_is_logged_once_and_its_end_once(
    bound: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=socket_trust.__name__)
    trust = socket_trust.SocketTrust(str(bound), owner=str(COLLECTOR))
    os.chown(bound, STRANGER, STRANGER)
    for _ in range(100):
        trust.refusal()
    with _rebind(bound):
        os.chown(bound, STRANGER, STRANGER)  # the same squatter, a new file
        for _ in range(100):
            trust.refusal()
        os.chown(bound, COLLECTOR, COLLECTOR)
        for _ in range(100):
            trust.refusal()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR",
         f"Not sending metrics to {bound}: it is owned by uid {STRANGER}, "
         f"not {COLLECTOR} or root; samples are dropped and "
         "counted with reason untrusted_socket until the socket is replaced"),
        ("INFO", f"Metrics socket {bound} is trusted again"),
    ]


def test_owner_is_looked_up_only_for_a_stranger_and_once(
    bound: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[str] = []
    getpwnam = socket_trust.pwd.getpwnam

    def counted(name: str) -> socket_trust.pwd.struct_passwd:
        looked_up.append(name)
        return getpwnam(name)

    monkeypatch.setattr(socket_trust.pwd, "getpwnam", counted)
    trust = socket_trust.SocketTrust(str(bound), owner="no-such-user-x")
    for _ in range(3):
        assert trust.refusal() is None  # root's socket: no lookup
    assert looked_up == []
    os.chown(bound, STRANGER, STRANGER)
    assert trust.refusal() is not None
    with _rebind(bound):
        os.chown(bound, COLLECTOR, COLLECTOR)
        assert trust.refusal() is not None
    assert looked_up == ["no-such-user-x"]


def test_names_and_numbers_resolve() -> None:
    assert socket_trust.user_id("root") == 0
    assert socket_trust.user_id("4242") == 4242
    assert socket_trust.user_id("no-such-user-x") is None
    assert socket_trust.group_id("root") == 0
    assert socket_trust.group_id("no-such-group-x") is None


def test_sender_drops_and_counts_instead_of_sending_to_a_stranger(
    bound: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport.DatagramSender, "_start_thread", lambda self: None)
    bound.unlink()
    sink = DatagramSink(bound, wait=0)
    try:
        os.chown(bound, STRANGER, STRANGER)
        sender = transport.DatagramSender(str(bound), 100, 60.0)
        for _ in range(3):
            sender.submit(SAMPLE, NO_INLINE)
        sender.flush()
        assert sink.messages() == []
        assert sender.held == 0
        assert sender.delivered == 0
        # The collector's own socket again: the count goes first, then
        # what is new.
        os.chown(bound, 0, 0)
        sender.submit(SAMPLE, NO_INLINE)
        sender.flush()
        messages = sink.messages()
    finally:
        sink.close()
    dropped = [m for m in messages if m["name"] == transport.DROPPED]
    assert [(m["labels"], m["action"]) for m in dropped] == [
        ({"service": "", "reason": "untrusted_socket"},
         {"action": "inc", "value": 3}),
    ]
    assert rows(messages) == [ROW]
    assert sender.delivered == 1


def test_the_spool_is_trusted_as_the_socket_is(directory: Path) -> None:
    """Its owner, group and the directories above it, as for the socket;
    and no other user may write to it, sticky or not."""
    spool = directory / "metrics.sock.spool"
    spool.mkdir(mode=0o2770)
    trust = socket_trust.SocketTrust(
        str(directory / "metrics.sock"), owner=str(COLLECTOR), group=str(COLLECTOR)
    )

    def refusal() -> str | None:
        return trust.directory_refusal(str(spool), os.stat(spool))

    assert refusal() == f"its group is root (gid 0), not {COLLECTOR}"
    os.chown(spool, COLLECTOR, COLLECTOR)
    assert refusal() is None
    os.chown(spool, STRANGER, COLLECTOR)
    assert refusal() == (
        f"it is owned by uid {STRANGER}, not {COLLECTOR} or root"
    )
    os.chown(spool, COLLECTOR, COLLECTOR)
    spool.chmod(0o1777)
    assert refusal() == "it is writable by every user"
    spool.chmod(0o2770)
    directory.chmod(0o777)
    assert refusal() == (
        f"its directory {directory} is writable by every user and not "
        "sticky, so anyone could replace the spool"
    )
    directory.chmod(0o750)
    os.chown(directory, STRANGER, STRANGER)
    assert refusal() == (
        f"its directory {directory} belongs to uid {STRANGER}, who could "
        "replace the spool"
    )
