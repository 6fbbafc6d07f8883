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

"""Whether the socket at a path may receive this process's samples.

A datagram sent to a path goes to whichever process bound it, and request
ids travel in those datagrams.  So a socket is sent to only when its owner
is trusted (root, this process's own user, or the configured collector
user; the configured group too, when one is set) and no untrusted user can
have put it there: every directory above it belongs to a trusted user and
is either not writable by everyone or sticky (where only a file's owner
may remove or rename it, so the trusted owner of the socket guarantees it).

The verdict is kept for the socket file it was made on and made again only
when a ``stat`` shows another file (inode) or a changed one (ctime), so
each datagram sent costs one ``stat`` and a request nothing.

The configured owner and group are looked up in the user database only
when a file's owner is neither root nor this process's user, once: the
lookup loads the C library's modules for that database into the process
(from 0.07 MiB resident for ``/etc/passwd`` to 0.45 MiB when systemd's
module is asked too), which a process that never needs them does not hold.
"""

from __future__ import annotations

import functools
import grp
import logging
import os
import pwd
import stat

LOG = logging.getLogger(__name__)

# The user and group the shipped systemd unit and sysusers.d file create.
DEFAULT_OWNER = "oslo-metrics"


def user_id(name: str) -> int | None:
    """The uid of a user name or number; None when there is no such user."""
    if name.isdigit():
        return int(name)
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def group_id(name: str) -> int | None:
    """The gid of a group name or number; None when there is no such group."""
    if name.isdigit():
        return int(name)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


class SocketTrust:
    """The trust verdict on one socket path, re-made when the file changes."""

    def __init__(
        self, path: str, owner: str = DEFAULT_OWNER, group: str = ""
    ) -> None:
        self.path = path
        self.owner = owner
        self.group = group
        # Root can do anything and this process's user is the sender itself:
        # neither can be kept out, so both are trusted as well.
        self._own_uids = frozenset((0, os.geteuid()))
        self._seen: tuple[int, int, int] | None = None
        self._verdict: str | None = None
        self._logged: str | None = None

    @functools.cached_property
    def _owner_uid(self) -> int | None:
        return user_id(self.owner) if self.owner else None

    @functools.cached_property
    def _gid(self) -> int | None:
        return group_id(self.group) if self.group else None

    def _trusted_uid(self, uid: int) -> bool:
        return uid in self._own_uids or uid == self._owner_uid

    def refusal(self) -> str | None:
        """Why the socket must not be sent to, or None.

        None as well when there is no socket file: sending then fails on
        its own and the sender holds its samples.
        """
        try:
            found = os.stat(self.path)
        except OSError:
            self._seen = None
            return None
        seen = (found.st_dev, found.st_ino, found.st_ctime_ns)
        if seen != self._seen:
            self._seen = seen
            self._verdict = self._judge(found)
            self._announce()
        return self._verdict

    def directory_refusal(self, path: str, found: os.stat_result) -> str | None:
        """Why the directory ``path``, whose status is ``found``, must not
        be written to (the spool next to the socket), or None.

        It is trusted as the socket is, by its owner, group and the
        directories above it; and, since files are put in it rather than
        sent to one listener, only when no other user may write to it.
        """
        if not stat.S_ISDIR(found.st_mode):
            return "it is not a directory"
        owner = self._owner_refusal(found)
        if owner is not None:
            return owner
        if found.st_mode & stat.S_IWOTH:
            return "it is writable by every user"
        return self._directories_refusal(path, "the spool")

    def _judge(self, found: os.stat_result) -> str | None:
        if not stat.S_ISSOCK(found.st_mode):
            return None  # nothing listens there; sending fails by itself
        owner = self._owner_refusal(found)
        if owner is not None:
            return owner
        return self._directories_refusal(self.path, "the socket")

    def _owner_refusal(self, found: os.stat_result) -> str | None:
        if not self._trusted_uid(found.st_uid):
            return f"it is owned by {_user(found.st_uid)}, not {self._owners()}"
        if self.group and found.st_gid != self._gid:
            return (
                f"its group is {_group(found.st_gid)}, not {self.group}"
                + ("" if self._gid is not None else " (no such group)")
            )
        return None

    def _directories_refusal(self, path: str, what: str) -> str | None:
        directory = os.path.dirname(os.path.realpath(path))
        while True:
            try:
                found = os.stat(directory)
            except OSError as exc:
                return f"its directory {directory} cannot be checked ({exc.strerror})"
            if not self._trusted_uid(found.st_uid):
                return (
                    f"its directory {directory} belongs to "
                    f"{_user(found.st_uid)}, who could replace {what}"
                )
            if found.st_mode & stat.S_IWOTH and not found.st_mode & stat.S_ISVTX:
                return (
                    f"its directory {directory} is writable by every user "
                    f"and not sticky, so anyone could replace {what}"
                )
            parent = os.path.dirname(directory)
            if parent == directory:
                return None
            directory = parent

    def _owners(self) -> str:
        names = ["root"]
        if os.geteuid() != 0:
            names.append(_user(os.geteuid()))
        if self.owner:
            known = "" if self._owner_uid is not None else " (no such user)"
            names.insert(0, f"{self.owner}{known}")
        if len(names) == 1:
            return names[0]
        return ", ".join(names[:-1]) + " or " + names[-1]

    def _announce(self) -> None:
        """Log a refusal once, and its end once."""
        if self._verdict == self._logged:
            return
        if self._verdict is not None:
            LOG.error(
                "Not sending metrics to %s: %s; samples are dropped and "
                "counted with reason untrusted_socket until the socket is "
                "replaced", self.path, self._verdict,
            )
        else:
            LOG.info("Metrics socket %s is trusted again", self.path)
        self._logged = self._verdict


def _user(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _group(gid: int) -> str:
    try:
        return f"{grp.getgrgid(gid).gr_name} (gid {gid})"
    except KeyError:
        return f"gid {gid}"
