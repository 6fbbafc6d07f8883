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

"""Matching paths against a table of ``{name}`` templates.

Used for the operator's route table and for Placement, whose router leaves
no template behind.  Templates are compiled into a tree of path segments:
a match is one dictionary step per segment, literal segments first, so a
request costs far less than re-running a regular-expression router, and
needs no cache that fresh ids would miss.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
import re
from typing import Any

_PLACEHOLDER = re.compile(r"\{[^{}/]*\}")


# The literal children of every node that has none: one shared empty dict,
# never written (add() gives a node its own before adding one), so a leaf
# costs no dict and a match still needs no test for it.
_NO_LITERALS: dict[str, _Node] = {}


class _Node:
    __slots__ = ("literals", "template", "variable")

    def __init__(self) -> None:
        self.literals = _NO_LITERALS
        self.variable: _Node | None = None
        self.template: str | None = None


def _is_placeholder(segment: str) -> bool:
    return _PLACEHOLDER.fullmatch(segment) is not None


class TemplateTable:
    """The templates a path can match; each placeholder takes one segment."""

    def __init__(self, templates: Iterable[str]) -> None:
        self._root = _Node()
        self.templates: list[str] = []
        # No path with more segments than this matches.
        self._depth = 0
        for template in templates:
            self.add(template)

    def add(self, template: str) -> None:
        """Add ``template``; the first of two equal shapes wins."""
        label = "/" + template.strip("/")
        node = self._root
        segments = _segments(label)
        for segment in segments:
            if _is_placeholder(segment):
                if node.variable is None:
                    node.variable = _Node()
                node = node.variable
            else:
                if node.literals is _NO_LITERALS:
                    node.literals = {}
                node = node.literals.setdefault(segment, _Node())
        if node.template is None:
            node.template = label
            self.templates.append(label)
        self._depth = max(self._depth, len(segments))

    def match(self, path: str) -> str | None:
        """The template ``path`` matches, literal segments preferred.

        One dictionary step per segment: the walk takes the literal child
        where there is one and backtracks only when that leads nowhere,
        so a table of thousands of templates costs no more than a small one.
        """
        segments = path.strip("/").split("/")
        if "" in segments:  # '//' inside, or the root
            segments = _segments(path)
        if len(segments) > self._depth:
            return None
        node = self._root
        for segment in segments:
            child = node.literals.get(segment)
            if child is None:
                child = node.variable
                if child is None:
                    break
            node = child
        else:
            if node.template is not None:
                return node.template
        return _walk(self._root, segments, 0)

    def __len__(self) -> int:
        return len(self.templates)


def _segments(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment]


def _walk(node: _Node, segments: list[str], index: int) -> str | None:
    if index == len(segments):
        return node.template
    child = node.literals.get(segments[index])
    if child is not None:
        found = _walk(child, segments, index + 1)
        if found is not None:
            return found
    if node.variable is not None:
        return _walk(node.variable, segments, index + 1)
    return None


def read_table(path: str) -> TemplateTable:
    """Load a route-table file: one template per line, ``#`` comments.

    Raises ValueError naming the line of a template that is not a path.
    """
    templates = []
    text = Path(path).read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), start=1):
        template = line.split("#", 1)[0].strip()
        if not template:
            continue
        if not template.startswith("/") or any(char.isspace() for char in template):
            raise ValueError(f"{path}:{number}: not a path template: {line!r}")
        templates.append(template)
    return TemplateTable(templates)


class OperatorTableResolver:
    """The operator's route table, matched on the whole path.

    It comes before every router, so it can also correct their labels.
    """

    environ_key = None

    def __init__(self, table: TemplateTable) -> None:
        self._table = table

    def resolve(self, environ: dict[str, Any], status: int) -> str | None:
        # Not str-proofed: the resolver chain catches what a broken app
        # left there, and the fallback labels the request.
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        return self._table.match(path)
