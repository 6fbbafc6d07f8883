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
no template behind.  Templates are compiled into a tree of path segments
per number of segments: a match is one dictionary step per segment,
literal segments first, so a request costs far less than re-running a
regular-expression router, and needs no cache that fresh ids would miss.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
import re
from typing import Any

_PLACEHOLDER = re.compile(r"\{[^{}/]*\}")


# The literal children of every node that has none: one shared empty dict,
# never written (add() gives a node its own before adding one), so a node
# costs no dict it does not need and a match still needs no test for it.
_NO_LITERALS: dict[str, Any] = {}


class _Node:
    """One segment position of the templates of one length.

    A child is the next position's node, or at the last position the
    template itself: a template takes no node of its own.
    """

    __slots__ = ("literals", "variable")

    def __init__(self) -> None:
        self.literals: dict[str, Any] = _NO_LITERALS
        self.variable: Any = None


def _own_literals(node: _Node) -> dict[str, Any]:
    """The literal children of ``node``, in a dict of its own to add to."""
    if node.literals is _NO_LITERALS:
        node.literals = {}
    return node.literals


def _is_placeholder(segment: str) -> bool:
    return _PLACEHOLDER.fullmatch(segment) is not None


class TemplateTable:
    """The templates a path can match; each placeholder takes one segment."""

    def __init__(self, templates: Iterable[str]) -> None:
        # A tree per number of segments, so that only the last position
        # holds templates, and a path's length picks its tree (None where
        # no template has that many).  The tree of the root path is its
        # template.  Room for 64 segments from the start: a longer path
        # than every tree pays for an IndexError, which no API's path is.
        self._trees: list[Any] = [None] * 64
        self._count = 0
        for template in templates:
            self.add(template)

    def add(self, template: str) -> None:
        """Add ``template``; the first of two equal shapes wins."""
        label = "/" + template.strip("/")
        segments = _segments(label)
        if not segments:
            if self._trees[0] is None:
                self._trees[0] = label
                self._count += 1
            return
        while len(self._trees) <= len(segments):
            self._trees.append(None)
        node = self._trees[len(segments)]
        if node is None:
            node = self._trees[len(segments)] = _Node()
        for segment in segments[:-1]:
            if _is_placeholder(segment):
                if node.variable is None:
                    node.variable = _Node()
                node = node.variable
            else:
                node = _own_literals(node).setdefault(segment, _Node())
        last = segments[-1]
        if _is_placeholder(last):
            if node.variable is None:
                node.variable = label
                self._count += 1
        elif last not in node.literals:
            _own_literals(node)[last] = label
            self._count += 1

    def match(self, path: str) -> str | None:
        """The template ``path`` matches, literal segments preferred.

        One dictionary step per segment: the walk takes the literal child
        where there is one and backtracks only when that leads nowhere,
        so a table of thousands of templates costs no more than a small one.
        """
        segments = path.strip("/").split("/")
        if "" in segments:  # '//' inside, or the root
            segments = _segments(path)
        try:
            tree = node = self._trees[len(segments)]
        except IndexError:  # longer than every template and than 64
            return None
        if node is None:
            return None  # no template has as many segments
        for segment in segments:
            node = node.literals.get(segment) or node.variable
            if node is None:
                break
        else:
            template: str = node  # past the last segment: a template
            return template
        return _walk(tree, segments, 0)

    def __len__(self) -> int:
        return self._count


def _segments(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment]


def _walk(node: Any, segments: list[str], index: int) -> str | None:
    """The first template in literal-first order below ``node``, which
    has the segments from ``index`` on to match."""
    if index == len(segments):
        template: str = node
        return template
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

