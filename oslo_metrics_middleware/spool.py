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

"""The spool: what a leaving process could not deliver, kept for the collector.

A process that ends while the collector is away writes the datagrams it
still holds into a directory next to the socket, ``<socket>.spool``, and
the collector reads them as if they had come through the socket when it
is back.  The collector makes the directory and owns it, with the socket's
write permission for its owner and group only (never others), so the
users who may send are the users who may spool.  A leaving process writes
there only if it would trust a socket there (socket_trust.py): the same
owner, group and directories above, and no other user may write to it.

Each file is one process's datagrams, one per line (JSON has no raw line
breaks).  It is written under a temporary name created with ``O_EXCL``
and renamed into place once complete, so the collector never reads half
a file.  Writers take an exclusive lock on the directory, so the bounds
below are true maxima however many processes leave at once.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import fcntl
import os
import time

from oslo_metrics_middleware.socket_trust import SocketTrust

DIRECTORY_SUFFIX = ".spool"
# Complete files, and files still being written.
READY_SUFFIX = ".dgrams"
PARTIAL_SUFFIX = ".part"
FILE_MODE = 0o640
# The whole directory never holds more than this (files of any name).
MAX_FILES = 1000
MAX_BYTES = 32 * 1024 * 1024
# Request datagrams may fill the directory up to here; the rest is kept
# for files that only count what could not be kept.
DATA_BYTES = MAX_BYTES - 1024 * 1024
# How long a leaving process waits for another one writing.
LOCK_WAIT = 1.0
_LOCK_PAUSE = 0.005


class SpoolError(Exception):
    """Nothing could be written to the spool; the message says why."""


def directory_of(socket_path: str) -> str:
    """The spool directory of the collector listening at ``socket_path``."""
    return socket_path + DIRECTORY_SUFFIX


def put(
    trust: SocketTrust, datagrams: list[bytes], fallback: list[bytes]
) -> bool:
    """Spool ``datagrams``, or ``fallback`` when they do not fit, next to
    the socket ``trust`` judges, if it would trust the directory.

    True when ``datagrams`` were written, False for ``fallback``;
    SpoolError when neither could be.
    """
    path = directory_of(trust.path)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise SpoolError(f"no spool at {path} ({exc.strerror})") from None
    try:
        reason = trust.directory_refusal(path, os.fstat(descriptor))
        if reason:
            raise SpoolError(f"spool {path} refused: {reason}")
        with _locked(descriptor, path):
            files, used = usage(descriptor)
            if files < MAX_FILES:
                content = _lines(datagrams)
                if used + len(content) <= DATA_BYTES:
                    _write(descriptor, content)
                    return True
                content = _lines(fallback)
                if used + len(content) <= MAX_BYTES:
                    _write(descriptor, content)
                    return False
            raise SpoolError(f"spool {path} is full ({files} files, {used} bytes)")
    except OSError as exc:
        raise SpoolError(f"cannot write to spool {path}: {exc.strerror}") from None
    finally:
        os.close(descriptor)


def usage(descriptor: int) -> tuple[int, int]:
    """Files in the spool directory open as ``descriptor``, and their bytes."""
    files = used = 0
    with os.scandir(descriptor) as entries:
        for entry in entries:
            files += 1
            with contextlib.suppress(FileNotFoundError):
                used += entry.stat(follow_symlinks=False).st_size
    return files, used


def _lines(datagrams: list[bytes]) -> bytes:
    return b"".join(datagram + b"\n" for datagram in datagrams)


def _write(descriptor: int, content: bytes) -> None:
    name = f"{os.getpid()}-{time.time_ns()}"
    partial = name + PARTIAL_SUFFIX
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    output = os.open(partial, flags, FILE_MODE, dir_fd=descriptor)
    try:
        # Whatever the process's umask: the collector reads through the group.
        os.fchmod(output, FILE_MODE)
        view = memoryview(content)
        while view:
            view = view[os.write(output, view):]
    except OSError:
        os.close(output)
        os.unlink(partial, dir_fd=descriptor)
        raise
    os.close(output)
    os.rename(
        partial, name + READY_SUFFIX, src_dir_fd=descriptor, dst_dir_fd=descriptor
    )


@contextlib.contextmanager
def _locked(descriptor: int, path: str) -> Iterator[None]:
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise SpoolError(f"spool {path} stayed locked") from None
            time.sleep(_LOCK_PAUSE)
    try:
        yield
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
