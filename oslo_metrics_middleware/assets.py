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

"""Files for operators shipped inside the package.

Sample configurations, the collector's systemd unit and sysusers.d file,
the Grafana dashboard and the Prometheus rules live in
``oslo_metrics_middleware/etc`` so that an installed wheel carries them;
``oslo-metrics-middleware assets`` lists them or copies them out.  The
copy of the unit runs the command of the installation that wrote it, so
a virtualenv install gets a unit that works as written.
"""

from __future__ import annotations

import os
from pathlib import Path
import sys

ROOT = Path(__file__).resolve().parent / "etc"
PASTE_SAMPLE = "api-paste.ini.sample"
UNIT = "oslo-metrics-collector.service"
# The command the shipped unit names: a distribution's or a system pip's.
SHIPPED_COMMAND = "/usr/bin/oslo-metrics-middleware"


class AssetError(RuntimeError):
    """An asset could not be found or written."""


def names() -> list[str]:
    """Every shipped file, as a path relative to the assets folder."""
    return sorted(
        path.relative_to(ROOT).as_posix()
        for path in ROOT.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )


def path(name: str) -> Path:
    """The installed location of one asset, e.g. ``grafana/x.json``."""
    found = ROOT / name
    if name not in names():
        raise AssetError(f"no such asset: {name}")
    return found


def write(target: Path, overwrite: bool = False) -> list[Path]:
    """Copy every asset below ``target``; existing files are kept unless
    ``overwrite``, so edited copies are never lost by accident."""
    wanted = [(ROOT / name, target / name) for name in names()]
    clashes = [str(dest) for _, dest in wanted if dest.exists()]
    if clashes and not overwrite:
        raise AssetError(
            f"{clashes[0]} exists (and {len(clashes) - 1} more); "
            "use --force to replace them"
        )
    written = []
    try:
        for source, dest in wanted:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(_content(source))
            written.append(dest)
    except OSError as exc:
        raise AssetError(f"cannot write {target}: {exc}") from None
    return written


def installed_command() -> str:
    """The command that runs this installation, as ExecStart= takes it.

    The console script beside the running interpreter (a virtualenv's
    ``bin/``), else that interpreter with ``-m``; the interpreter's path
    is kept as it is, since a virtualenv is known by its own ``python``.
    """
    script = Path(sys.executable).parent / "oslo-metrics-middleware"
    if script.is_file() and os.access(script, os.X_OK):
        return _quoted(str(script))
    return f"{_quoted(sys.executable)} -m oslo_metrics_middleware.cmd"


def _content(source: Path) -> bytes:
    data = source.read_bytes()
    if source.name == UNIT:
        data = data.replace(
            f"ExecStart={SHIPPED_COMMAND} ".encode(),
            f"ExecStart={installed_command()} ".encode(),
        )
    return data


def _quoted(path: str) -> str:
    # systemd splits ExecStart= on spaces unless a word is quoted.
    return f'"{path}"' if " " in path else path
