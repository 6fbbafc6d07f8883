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

"""Every Python source file carries the Apache-2.0 header, as oslo files do."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCE_TREES = ("oslo_metrics_middleware", "tests", "bench", "tools", "doc",
                "releasenotes")
HEADER = "# Licensed under the Apache License, Version 2.0"


def _sources() -> list[Path]:
    return sorted(
        path
        for tree in SOURCE_TREES
        for path in (REPO / tree).rglob("*.py")
        if "build" not in path.relative_to(REPO).parts
    )


def test_there_are_sources_to_check() -> None:
    assert len(_sources()) > 50


@pytest.mark.parametrize(
    "path", _sources(), ids=lambda path: str(path.relative_to(REPO))
)
def test_source_has_license_header(path: Path) -> None:
    lines = path.read_text().splitlines()
    if lines and lines[0].startswith("#!"):
        lines = lines[1:]
    assert lines and lines[0].startswith(HEADER), path
    assert sum(line.startswith(HEADER) for line in lines) == 1, path
