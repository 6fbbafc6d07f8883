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

"""The collector's side of the spool: made at start, read while running.

The directory next to the socket is created (or taken over, if it is this
collector user's own) when the collector starts, with the socket's write
permission for owner and group and never for others; the set-group-id bit
gives every file the directory's group, through which the collector reads
it.  Files left by processes that ended while the collector was away are
read at start and then whenever the receive loop polls, each datagram
going through the same entry point as one read from the socket.  A file is
removed before its datagrams are recorded: a collector that dies half-way
loses them, as it loses its counters, rather than counting them twice.
"""

from __future__ import annotations

from collections.abc import Callable
import logging
import os
import stat
import time

from oslo_metrics_middleware import spool
from oslo_metrics_middleware.collector.options import StartupError

LOG = logging.getLogger(__name__)

# Seconds between looks at the directory: a listing of an empty one.
POLL_INTERVAL = 1.0
# Bytes read per poll, so the receive loop is not held up for long.
POLL_BYTES = 4 * 1024 * 1024
# A partial file this old belongs to a process that died writing it.
STALE_PARTIAL = 60.0
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def mode_for(socket_perm: int) -> int:
    """The directory mode matching a socket's: write and search where the
    socket is writable, for owner and group only; set-group-id."""
    mode = stat.S_IRWXU | stat.S_ISGID
    if socket_perm & stat.S_IWGRP:
        mode |= stat.S_IRWXG
    return mode


class Spool:
    """The open spool directory of a running collector."""

    def __init__(self, path: str, descriptor: int) -> None:
        self.path = path
        self._descriptor = descriptor
        found = os.fstat(descriptor)
        # Files of these owners are read whatever their group: the
        # collector's own, and root's.
        self._owners = {0, os.geteuid()}
        self._group = found.st_gid
        self._next_poll = 0.0

    def poll(self, record: Callable[[bytes], None]) -> None:
        """Read new files if POLL_INTERVAL has passed since the last look."""
        now = time.monotonic()
        if now >= self._next_poll:
            self._next_poll = now + POLL_INTERVAL
            self.read(record, POLL_BYTES)

    def read(
        self, record: Callable[[bytes], None], budget: int = spool.MAX_BYTES
    ) -> int:
        """Pass the datagrams of complete files to ``record``, oldest first,
        until ``budget`` bytes are read; their number.  Each file is
        removed first."""
        count = 0
        with os.scandir(self._descriptor) as entries:
            names = sorted(entry.name for entry in entries)
        for name in names:
            if budget <= 0:
                break
            if name.endswith(spool.READY_SUFFIX):
                content = self._take(name)
                budget -= len(content)
                for line in content.splitlines():
                    record(line)
                    count += 1
            else:
                self._clear_stale(name)
        if count:
            LOG.info("Read %d datagrams from the spool %s", count, self.path)
        return count

    def close(self) -> None:
        os.close(self._descriptor)

    def _take(self, name: str) -> bytes:
        """The content of one file, removed; empty if it is refused."""
        try:
            file = os.open(name, _OPEN_FLAGS, dir_fd=self._descriptor)
        except OSError as exc:
            return self._refuse(name, exc.strerror or "cannot be opened")
        try:
            found = os.fstat(file)
            if not stat.S_ISREG(found.st_mode):
                return self._refuse(name, "not a regular file")
            if found.st_nlink != 1:
                return self._refuse(name, "a file with other links")
            untrusted = self._distrust(found)
            if untrusted is not None:
                return self._refuse(name, untrusted)
            if found.st_size > spool.MAX_BYTES:
                return self._refuse(name, f"larger than {spool.MAX_BYTES} bytes")
            content = os.read(file, spool.MAX_BYTES + 1)
        finally:
            os.close(file)
        os.unlink(name, dir_fd=self._descriptor)
        return content[: spool.MAX_BYTES]

    def _distrust(self, found: os.stat_result) -> str | None:
        """Why a file's owner or mode make it untrusted, or None.

        The directory gives every file its group, so a file of another
        group was made by someone else or moved away from it; one that
        others may write could have been changed by anyone.
        """
        if found.st_uid not in self._owners and found.st_gid != self._group:
            return (
                f"its group is gid {found.st_gid}, not the spool's "
                f"(gid {self._group})"
            )
        if found.st_mode & stat.S_IWOTH:
            return "writable by every user"
        return None

    def _refuse(self, name: str, reason: str) -> bytes:
        LOG.warning("Removed %s from the spool %s unread: %s", name, self.path, reason)
        self._remove(name)
        return b""

    def _clear_stale(self, name: str) -> None:
        try:
            found = os.stat(name, dir_fd=self._descriptor, follow_symlinks=False)
        except FileNotFoundError:
            return
        if time.time() - found.st_mtime > STALE_PARTIAL:
            self._refuse(name, "left incomplete")

    def _remove(self, name: str) -> None:
        try:
            os.unlink(name, dir_fd=self._descriptor)
        except IsADirectoryError:
            LOG.warning("A directory %s in the spool %s", name, self.path)
        except FileNotFoundError:
            pass


def prepare(socket_path: str, socket_perm: int) -> Spool:
    """Create or check the spool of the socket at ``socket_path``, or
    StartupError."""
    path = spool.directory_of(socket_path)
    mode = mode_for(socket_perm)
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StartupError(f"cannot create spool {path}: {exc.strerror}") from None
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise StartupError(
            f"spool {path} is not a directory ({exc.strerror})"
        ) from None
    try:
        found = os.fstat(descriptor)
        if found.st_uid != os.geteuid():
            raise StartupError(
                f"spool {path} is owned by uid {found.st_uid}, not by this "
                f"collector's {os.geteuid()}; refusing to use it"
            )
        os.fchmod(descriptor, mode)
    except BaseException:
        os.close(descriptor)
        raise
    return Spool(path, descriptor)
