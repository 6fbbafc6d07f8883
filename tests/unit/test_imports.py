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

"""The package's modules import one another without a circle.

The graph is read from the source with ``ast``, so it sees every import a
module holds: at the top, inside functions (deferred imports are still a
dependency of the module), and under ``if TYPE_CHECKING:`` alike.  An edge
goes from a module to each module of the package it names: ``import a.b``
and ``from a import b`` both name ``a.b`` when that is a module, and ``a``
otherwise.  Parent packages are not counted as imported: Python runs a
package's ``__init__`` before any of its modules, so counting it would make
a circle of every package that re-exports a name of its own modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from collections.abc import Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "oslo_metrics_middleware"

Graph = dict[str, set[str]]


def modules_of(root: Path, package: str) -> dict[str, Path]:
    """Dotted module names of the ``.py`` files under ``root``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def import_graph(root: Path, package: str) -> Graph:
    """For each module of the package, the modules of the package it imports."""
    modules = modules_of(root, package)
    return {
        name: set(_imported(name, path, modules)) - {name}
        for name, path in modules.items()
    }


def _imported(name: str, path: Path, modules: Mapping[str, Path]) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    # The package a relative import starts from.
    here = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _nearest(alias.name, modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                named = submodule if submodule in modules else base
                yield from _nearest(named, modules)


def _nearest(dotted: str, modules: Mapping[str, Path]) -> Iterator[str]:
    """The longest prefix of ``dotted`` that is a module of the package."""
    parts = dotted.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            yield candidate
            return
        parts.pop()


def cycles(graph: Graph) -> list[list[str]]:
    """One circle through each group of modules that import one another,
    as the list of modules along it, the first repeated at the end."""
    found = []
    for group in _strongly_connected(graph):
        start = min(group)
        if len(group) > 1 or start in graph[start]:
            found.append(_circle(graph, group, start))
    return sorted(found)


def _strongly_connected(graph: Graph) -> list[set[str]]:
    """Tarjan's algorithm, iterative: no recursion limit to meet."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    groups.append(group)
    return groups


def _circle(graph: Graph, group: set[str], start: str) -> list[str]:
    """The shortest way from ``start`` back to itself inside ``group``."""
    paths = {target: [start, target] for target in sorted(graph[start] & group)}
    frontier = list(paths)
    while start not in paths:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & group):
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    return paths[start]


def test_the_package_imports_without_a_circle() -> None:
    graph = import_graph(REPO / PACKAGE, PACKAGE)
    assert f"{PACKAGE}.middleware" in graph[PACKAGE]  # the graph was read
    found = [" -> ".join(circle) for circle in cycles(graph)]
    assert not found, "import circles:\n" + "\n".join(found)


def _write(root: Path, files: dict[str, str]) -> Path:
    package = root / "pkg"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


@pytest.mark.parametrize(
    ("files", "circle"),
    [
        (
            {
                "__init__.py": "",
                "a.py": "from pkg import b\n",
                "b.py": "import pkg.a\n",
            },
            ["pkg.a", "pkg.b", "pkg.a"],
        ),
        (
            # A name from a module, relative, and deferred into a function.
            {
                "__init__.py": "",
                "a.py": "from .b import thing\n",
                "b.py": "def f():\n    from pkg.sub.c import other\n",
                "sub/__init__.py": "",
                "sub/c.py": "from .. import a\n",
            },
            ["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"],
        ),
        (
            {
                "__init__.py": "",
                "a.py": "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from pkg.b import B\n",
                "b.py": "from pkg.a import A\n",
            },
            ["pkg.a", "pkg.b", "pkg.a"],
        ),
        (
            # A package that re-exports from its own module: no circle.
            {"__init__.py": "from pkg.a import A\n", "a.py": "import os\n"},
            None,
        ),
    ],
    ids=["absolute", "relative-deferred", "type-checking", "reexport"],
)
def test_a_circle_is_found_and_named(
    tmp_path: Path, files: dict[str, str], circle: list[str] | None
) -> None:
    graph = import_graph(_write(tmp_path, files), "pkg")
    assert cycles(graph) == ([circle] if circle else [])
