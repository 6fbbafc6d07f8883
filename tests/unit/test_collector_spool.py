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

"""The collector's side of the spool: its directory, and what it reads."""

from __future__ import annotations

from collections.abc import Iterator
import logging
import os
from pathlib import Path
import stat
import time

import pytest

from oslo_metrics_middleware import spool as layout
from oslo_metrics_middleware.collector import spool
from oslo_metrics_middleware.collector.options import StartupError
from oslo_metrics_middleware.socket_trust import SocketTrust


@pytest.fixture
def socket_path(tmp_path: Path) -> str:
    return str(tmp_path / "metrics.sock")


@pytest.fixture
def opened(socket_path: str) -> Iterator[spool.Spool]:
    prepared = spool.prepare(socket_path, 0o660)
    yield prepared
    prepared.close()


def _directory(socket_path: str) -> Path:
    return Path(layout.directory_of(socket_path))


def _read(opened: spool.Spool, budget: int = layout.MAX_BYTES) -> list[bytes]:
    read: list[bytes] = []
    assert opened.read(read.append, budget) == len(read)
    return read


@pytest.mark.parametrize(
    ("perm", "mode"), [(0o660, 0o2770), (0o600, 0o2700), (0o666, 0o2770)]
)
def test_made_with_the_sockets_write_permission_never_for_others(
    socket_path: str, perm: int, mode: int
) -> None:
    old = os.umask(0o077)
    try:
        spool.prepare(socket_path, perm).close()
    finally:
        os.umask(old)
    found = _directory(socket_path).stat()
    assert stat.S_IMODE(found.st_mode) == mode
    assert found.st_uid == os.geteuid()


def test_an_existing_directory_of_ours_gets_the_mode_back(socket_path: str) -> None:
    _directory(socket_path).mkdir(mode=0o777)
    _directory(socket_path).chmod(0o777)
    spool.prepare(socket_path, 0o660).close()
    assert stat.S_IMODE(_directory(socket_path).stat().st_mode) == 0o2770


@pytest.mark.skipif(os.geteuid() != 0, reason="gives a directory away")
def test_a_directory_of_another_user_is_refused(socket_path: str) -> None:
    _directory(socket_path).mkdir()
    os.chown(_directory(socket_path), 65534, 65534)
    with pytest.raises(StartupError) as raised:
        spool.prepare(socket_path, 0o660)
    assert str(raised.value) == (
        f"spool {socket_path}.spool is owned by uid 65534, not by this "
        f"collector's {os.geteuid()}; refusing to use it"
    )


def test_a_file_or_link_in_its_place_is_refused(
    socket_path: str, tmp_path: Path
) -> None:
    _directory(socket_path).symlink_to(tmp_path)
    with pytest.raises(StartupError, match=r"\.spool is not a directory \("):
        spool.prepare(socket_path, 0o660)


def test_no_parent_directory(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match=r"^cannot create spool .*: No such"):
        spool.prepare(str(tmp_path / "gone" / "metrics.sock"), 0o660)


def test_reads_complete_files_in_order_and_removes_them(
    socket_path: str, opened: spool.Spool
) -> None:
    layout.put(SocketTrust(socket_path), [b"one", b"two"], [])
    layout.put(SocketTrust(socket_path), [b"three"], [])
    partial = _directory(socket_path) / f"9-9{layout.PARTIAL_SUFFIX}"
    partial.write_bytes(b"four\n")
    assert _read(opened) == [b"one", b"two", b"three"]
    # A file still being written is left to its writer.
    assert list(_directory(socket_path).iterdir()) == [partial]


def test_a_partial_file_left_long_ago_is_removed(
    socket_path: str, opened: spool.Spool
) -> None:
    partial = _directory(socket_path) / f"9-9{layout.PARTIAL_SUFFIX}"
    partial.write_bytes(b"four\n")
    old = time.time() - spool.STALE_PARTIAL - 1
    os.utime(partial, (old, old))
    assert _read(opened) == []
    assert not partial.exists()


def test_refused_files_are_removed_unread(
    socket_path: str, tmp_path: Path, opened: spool.Spool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    directory = _directory(socket_path)
    secret = tmp_path / "secret"
    secret.write_bytes(b"not for the collector\n")
    (directory / f"1-1{layout.READY_SUFFIX}").symlink_to(secret)
    os.link(secret, directory / f"2-2{layout.READY_SUFFIX}")
    with open(directory / f"3-3{layout.READY_SUFFIX}", "wb") as large:
        large.truncate(layout.MAX_BYTES + 1)
    os.mkfifo(directory / f"4-4{layout.READY_SUFFIX}")
    with caplog.at_level(logging.WARNING):
        assert _read(opened) == []
    assert list(directory.iterdir()) == []
    assert secret.read_bytes() == b"not for the collector\n"
    reasons = [record.getMessage().rsplit(": ", 1)[1] for record in caplog.records]
    assert reasons == [
        "Too many levels of symbolic links",
        "a file with other links",
        f"larger than {layout.MAX_BYTES} bytes",
        "not a regular file",
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_files_of_strangers_or_writable_by_all_are_removed_unread(
    socket_path: str, opened: spool.Spool, caplog: pytest.LogCaptureFixture
) -> None:
    """A file is read when its group is the spool's (the directory gives
    it that group) or its owner the collector's, and no other user may
    write to it: the users who may spool are the users who may send."""
    directory = _directory(socket_path)
    group = directory.stat().st_gid
    kept = directory / f"1-1{layout.READY_SUFFIX}"
    kept.write_bytes(b"kept\n")
    os.chown(kept, 54321, group)
    planted = directory / f"2-2{layout.READY_SUFFIX}"
    planted.write_bytes(b"planted\n")
    os.chown(planted, 54321, 54321)
    writable = directory / f"3-3{layout.READY_SUFFIX}"
    writable.write_bytes(b"changed by anyone\n")
    writable.chmod(0o646)
    with caplog.at_level(logging.WARNING):
        assert _read(opened) == [b"kept"]
    assert list(directory.iterdir()) == []
    assert [record.getMessage() for record in caplog.records] == [
        f"Removed 2-2{layout.READY_SUFFIX} from the spool {directory} unread: "
        f"its group is gid 54321, not the spool's (gid {group})",
        f"Removed 3-3{layout.READY_SUFFIX} from the spool {directory} unread: "
        "writable by every user",
    ]


def test_a_read_stops_after_its_budget(
    socket_path: str, opened: spool.Spool
) -> None:
    for name in (b"one", b"two", b"three"):
        layout.put(SocketTrust(socket_path), [name], [])
    assert _read(opened, budget=len(b"one\ntwo\n")) == [b"one", b"two"]
    assert _read(opened, budget=1) == [b"three"]


def test_polls_once_an_interval(socket_path: str, opened: spool.Spool) -> None:
    read: list[bytes] = []
    opened.poll(read.append)
    layout.put(SocketTrust(socket_path), [b"one"], [])
    opened.poll(read.append)
    assert read == []
    opened._next_poll = time.monotonic()
    opened.poll(read.append)
    assert read == [b"one"]
