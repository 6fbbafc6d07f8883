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

"""The sender's side of the spool: bounded, exclusive, never world-writable."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
import stat

import pytest

from oslo_metrics_middleware import spool
from oslo_metrics_middleware.socket_trust import SocketTrust

DATA = [b'{"a":1}', b'{"b":2}']
COUNTS = [b'{"c":3}']


@pytest.fixture
def socket_path(tmp_path: Path) -> str:
    return str(tmp_path / "metrics.sock")


@pytest.fixture
def directory(socket_path: str) -> Path:
    path = Path(spool.directory_of(socket_path))
    path.mkdir(mode=0o2770)
    return path


def _files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def _fill(directory: Path, size: int) -> None:
    """Take ``size`` bytes of the spool with one sparse file."""
    with open(directory / f"filler{spool.PARTIAL_SUFFIX}", "wb") as filler:
        filler.truncate(size)


def test_datagrams_written_one_a_line_readable_by_the_group(
    socket_path: str, directory: Path
) -> None:
    old = os.umask(0o077)
    try:
        assert spool.put(SocketTrust(socket_path), DATA, COUNTS) is True
    finally:
        os.umask(old)
    [(name, content)] = _files(directory).items()
    assert name.startswith(f"{os.getpid()}-")
    assert name.endswith(spool.READY_SUFFIX)
    assert content == b'{"a":1}\n{"b":2}\n'
    assert stat.S_IMODE((directory / name).stat().st_mode) == spool.FILE_MODE


def test_no_room_for_the_datagrams_keeps_their_count(
    socket_path: str, directory: Path
) -> None:
    _fill(directory, spool.DATA_BYTES - len(b"".join(DATA)))
    assert spool.put(SocketTrust(socket_path), DATA, COUNTS) is False
    written = {
        name: content for name, content in _files(directory).items()
        if name.endswith(spool.READY_SUFFIX)
    }
    assert list(written.values()) == [b'{"c":3}\n']


def test_datagrams_that_just_fit_are_kept(
    socket_path: str, directory: Path
) -> None:
    _fill(directory, spool.DATA_BYTES - len(b"".join(DATA)) - len(DATA))
    assert spool.put(SocketTrust(socket_path), DATA, COUNTS) is True


def test_a_full_spool_takes_nothing(socket_path: str, directory: Path) -> None:
    _fill(directory, spool.MAX_BYTES - len(COUNTS[0]))
    with pytest.raises(spool.SpoolError, match=r"is full \(1 files, "):
        spool.put(SocketTrust(socket_path), DATA, COUNTS)
    assert len(_files(directory)) == 1


def test_the_number_of_files_is_capped(socket_path: str, directory: Path) -> None:
    for number in range(spool.MAX_FILES - 1):
        (directory / f"{number}{spool.READY_SUFFIX}").touch()
    assert spool.put(SocketTrust(socket_path), DATA, COUNTS) is True
    with pytest.raises(spool.SpoolError, match=f"full \\({spool.MAX_FILES} files"):
        spool.put(SocketTrust(socket_path), DATA, COUNTS)
    assert len(_files(directory)) == spool.MAX_FILES


def test_no_spool_directory(socket_path: str) -> None:
    with pytest.raises(spool.SpoolError, match=r"^no spool at .*\.spool \("):
        spool.put(SocketTrust(socket_path), DATA, COUNTS)


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o2773])
def test_a_world_writable_directory_is_refused(
    socket_path: str, directory: Path, mode: int
) -> None:
    directory.chmod(mode)
    with pytest.raises(spool.SpoolError, match="writable by every user"):
        spool.put(SocketTrust(socket_path), DATA, COUNTS)
    assert _files(directory) == {}


def test_a_symbolic_link_is_refused(socket_path: str, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    Path(spool.directory_of(socket_path)).symlink_to(target)
    with pytest.raises(spool.SpoolError, match="no spool at"):
        spool.put(SocketTrust(socket_path), DATA, COUNTS)
    assert list(target.iterdir()) == []


def test_a_file_in_place_of_the_directory_is_refused(socket_path: str) -> None:
    Path(spool.directory_of(socket_path)).write_bytes(b"")
    with pytest.raises(spool.SpoolError, match="no spool at"):
        spool.put(SocketTrust(socket_path), DATA, COUNTS)


def test_waits_for_another_writer_then_gives_up(
    socket_path: str, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool, "LOCK_WAIT", 0.05)
    holder = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(spool.SpoolError, match="stayed locked"):
            spool.put(SocketTrust(socket_path), DATA, COUNTS)
        fcntl.flock(holder, fcntl.LOCK_UN)
        assert spool.put(SocketTrust(socket_path), DATA, COUNTS) is True
    finally:
        os.close(holder)


def test_a_write_error_leaves_no_partial_file(
    socket_path: str, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(descriptor: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spool.os, "write", full)
    with pytest.raises(spool.SpoolError, match="No space left on device"):
        spool.put(SocketTrust(socket_path), DATA, COUNTS)
    assert _files(directory) == {}


def test_directory_refusal_names_the_reason(tmp_path: Path) -> None:
    trust = SocketTrust(str(tmp_path / "metrics.sock"))
    assert trust.directory_refusal(str(tmp_path), os.stat(tmp_path)) is None
    assert trust.directory_refusal("/tmp", os.stat("/tmp")) == (
        "it is writable by every user"
    )
    assert trust.directory_refusal(__file__, os.stat(__file__)) == (
        "it is not a directory"
    )
