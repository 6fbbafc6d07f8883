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

"""The collector's datagram socket: taken only when it harms nothing.

The path is claimed under an exclusive lock on its directory, so two
collectors starting together cannot both decide a socket file is stale.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import errno
import fcntl
import os
import socket
import stat

from oslo_metrics_middleware.collector.options import StartupError


class DatagramSocket:
    """A bound unix datagram socket and the file it created."""

    def __init__(self, sock: socket.socket, path: str) -> None:
        self.socket = sock
        self.path = path
        self._identity = _identity(os.stat(path))

    def release(self) -> None:
        """Close the socket; remove its file unless someone replaced it."""
        self.socket.close()
        try:
            current = os.lstat(self.path)
        except OSError:
            return  # removed by someone else: nothing of ours is left
        if _identity(current) == self._identity:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def claim(path: str, mode: int) -> DatagramSocket:
    """Bind a datagram socket at ``path`` with ``mode``, or StartupError.

    Refuses a path held by anything but a socket file nobody listens on.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise StartupError(f"socket directory does not exist: {directory}")
    with _locked(directory):
        _make_room(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(path)
        except OSError as exc:
            sock.close()
            # "AF_UNIX path too long" comes without a strerror.
            reason = exc.strerror or str(exc)
            raise StartupError(f"cannot bind socket {path}: {reason}") from None
        claimed = DatagramSocket(sock, path)
    try:
        os.chmod(path, mode)
    except OSError as exc:
        claimed.release()
        raise StartupError(
            f"cannot set mode {mode:o} on socket {path}: {exc.strerror}"
        ) from None
    return claimed


def _make_room(path: str) -> None:
    """Remove a stale socket file at ``path``; refuse anything else."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StartupError(
            f"cannot inspect socket path {path}: {exc.strerror}"
        ) from None
    if not stat.S_ISSOCK(found.st_mode):
        raise StartupError(
            f"{path} exists and is not a socket; refusing to replace it"
        )
    if _in_use(path):
        raise StartupError(
            f"socket {path} is in use by a running process (another "
            "collector?); refusing to take it over"
        )
    try:
        os.unlink(path)
    except OSError as exc:
        # A sticky directory (/var/tmp, /tmp) keeps another user's file.
        raise StartupError(
            f"cannot remove the stale socket {path} (owned by uid "
            f"{found.st_uid}): {exc.strerror}; remove it as its owner or "
            "root, or choose another metrics_socket_file"
        ) from None


def _in_use(path: str) -> bool:
    """Whether a process is bound to the socket file at ``path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        return False  # left by a process that is gone
    except OSError as exc:
        if exc.errno == errno.EPROTOTYPE:
            return True  # a stream socket: some other program's
        raise StartupError(
            f"cannot tell whether socket {path} is in use: {exc.strerror}"
        ) from None
    finally:
        probe.close()
    return True


@contextlib.contextmanager
def _locked(directory: str) -> Iterator[None]:
    try:
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield  # an unreadable directory: claim without the lock
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _identity(found: os.stat_result) -> tuple[int, int]:
    return found.st_dev, found.st_ino
