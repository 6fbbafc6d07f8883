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
request costs far less than re-running a regular-expression router.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
import re

from oslo_metrics_middleware.routing import base
from oslo_metrics_middleware.routing import fallback

_PLACEHOLDER = re.compile(r"\{[^{}/]*\}")


class _Node:
    __slots__ = ("literals", "template", "variable")

    def __init__(self) -> None:
        self.literals: dict[str, _Node] = {}
        self.variable: _Node | None = None
        self.template: str | None = None


def _is_placeholder(segment: str) -> bool:
    return _PLACEHOLDER.fullmatch(segment) is not None


class TemplateTable:
    """The templates a path can match; each placeholder takes one segment."""

    def __init__(self, templates: Iterable[str]) -> None:
        self._root = _Node()
        self.templates: list[str] = []
        self._cache: dict[str, str | None] = {}
        # Matches are cached by the path's shape (ids replaced) unless a
        # literal segment of a template looks like an id itself.
        self._by_shape = True
        for template in templates:
            self.add(template)

    def add(self, template: str) -> None:
        """Add ``template``; the first of two equal shapes wins."""
        label = "/" + template.strip("/")
        node = self._root
        for segment in _segments(label):
            if _is_placeholder(segment):
                if node.variable is None:
                    node.variable = _Node()
                node = node.variable
            else:
                node = node.literals.setdefault(segment, _Node())
                if fallback.shape_key("/" + segment) != "/" + segment:
                    self._by_shape = False
        if node.template is None:
            node.template = label
            self.templates.append(label)

    def match(self, path: str) -> str | None:
        """The template ``path`` matches, literal segments preferred."""
        return _walk(self._root, _segments(path), 0)

    def lookup(self, path: str) -> str | None:
        """``match``, cached: one lookup for every request of a route."""
        if len(path) > base.MAX_CACHED_PATH:
            return self.match(path)
        key = fallback.shape_key(path) if self._by_shape else path
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = self.match(path)
        base.store(self._cache, key, found)
        return found

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

    def __init__(self, table: TemplateTable) -> None:
        self._table = table

    def resolve(self, environ: dict[str, object], status: int) -> str | None:
        path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
        return self._table.lookup(path)
