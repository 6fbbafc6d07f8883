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

Sample configurations, the collector's systemd unit, the Grafana dashboard
and the Prometheus rules live in ``oslo_metrics_middleware/etc`` so that an
installed wheel carries them; ``oslo-metrics-middleware assets`` lists them
or copies them out.
"""

from __future__ import annotations

from pathlib import Path
import shutil

ROOT = Path(__file__).resolve().parent / "etc"
PASTE_SAMPLE = "api-paste.ini.sample"


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
            shutil.copyfile(source, dest)
            written.append(dest)
    except OSError as exc:
        raise AssetError(f"cannot write {target}: {exc}") from None
    return written
