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

"""Local users made for one test, as root, and the commands that become them.

Each user has a group of its own; ``member_of`` adds it to others' groups,
as an operator adds the API services' users to the collector's group.
The names carry the test process's id, so parallel runs never share one.
"""

from __future__ import annotations

import atexit
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
import contextlib
import dataclasses
import functools
import os
from pathlib import Path
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile

import pytest


@dataclasses.dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int

    def command(self) -> list[str]:
        """The prefix that runs a command as this user, its groups only,
        without any capability root's children would keep."""
        return [
            "setpriv", f"--reuid={self.uid}", f"--regid={self.gid}",
            "--init-groups", "--inh-caps=-all", "--bounding-set=-all",
        ]


@dataclasses.dataclass(frozen=True)
class Python:
    """How another user runs this interpreter with its packages."""

    executable: str
    env: dict[str, str]


def open_to_all(path: str) -> bool:
    """Whether every user may reach ``path`` and read (and run) it."""
    real = Path(os.path.realpath(path))
    for directory in real.parents:
        if not directory.stat().st_mode & stat.S_IXOTH:
            return False
    wanted = stat.S_IROTH | (stat.S_IXOTH if real.is_dir() else 0)
    return real.stat().st_mode & wanted == wanted


@functools.cache
def python() -> Python:
    """This interpreter and its packages, as other users can run them.

    A virtual environment made from an interpreter under a private home
    (``/root`` is 0700) cannot be run by them: then the system's
    interpreter of the same version runs instead, with this one's package
    directory as its user site (so its ``.pth`` files still apply).  A
    package directory other users cannot read is copied for them into a
    temporary directory first; nothing of the original changes mode.
    """
    site_packages = sysconfig.get_path("purelib")
    if open_to_all(sys.executable) and open_to_all(site_packages):
        return Python(sys.executable, dict(os.environ))
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(version, path="/usr/bin:/usr/local/bin")
    if system is None or not open_to_all(system):
        pytest.skip(f"no {version} that other users may run")
    base = tempfile.mkdtemp(prefix="omm-python-", dir="/tmp")
    os.chmod(base, 0o755)
    lib = Path(base, "lib", version)
    lib.mkdir(parents=True, mode=0o755)
    lib.parent.chmod(0o755)
    lib.chmod(0o755)
    if open_to_all(site_packages):
        (lib / "site-packages").symlink_to(site_packages)
    else:
        shutil.copytree(site_packages, lib / "site-packages", symlinks=True)
        subprocess.run(["chmod", "-R", "o+rX", str(lib)], check=True)
    atexit.register(shutil.rmtree, base, True)
    env = dict(os.environ, PYTHONUSERBASE=base)
    env.pop("PYTHONNOUSERSITE", None)
    return Python(system, env)


def require_root() -> None:
    """Skip unless users can be made and become here."""
    if os.geteuid() != 0:
        pytest.skip("making users needs root")
    for tool in ("useradd", "usermod", "groupadd", "userdel", "groupdel",
                 "setpriv"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


@contextlib.contextmanager
def created(
    roles: Sequence[str], member_of: Mapping[str, Sequence[str]] | None = None
) -> Iterator[dict[str, User]]:
    """A user (and its group) per role, removed afterwards."""
    require_root()
    names = {role: f"omm-{role}-{os.getpid()}" for role in roles}
    made: list[str] = []
    try:
        for role in roles:
            _run("groupadd", "--system", names[role])
            _run("useradd", "--system", "--no-create-home", "--home-dir", "/",
                 "--shell", "/usr/sbin/nologin", "--gid", names[role], names[role])
            made.append(names[role])
        for role, groups in (member_of or {}).items():
            _run("usermod", "--append", "--groups",
                 ",".join(names[group] for group in groups), names[role])
        users = {}
        for role in roles:
            entry = pwd.getpwnam(names[role])
            users[role] = User(names[role], entry.pw_uid, entry.pw_gid)
        yield users
    finally:
        for name in reversed(made):
            _run("userdel", name)
            # userdel removes a group named after the user only when it
            # is that user's; make sure it is gone either way.
            subprocess.run(["groupdel", name], capture_output=True, check=False)


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=30)
