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

"""pecan object dispatch (neutron core resources, ironic).

pecan routes by walking controller objects, so no template exists.  After
the request, ``environ['pecan.locals']`` marks a pecan request and WebOb's
ad-hoc attributes keep what the template is built from: ``pecan`` (the
routing path, with any ``.json`` extension already split off) and
``context``.

- neutron's hooks put ``collection``, ``resource_id`` and ``parent_id`` in
  the context: segments equal to those ids become ``{id}`` and
  ``{parent_id}``, so ``/v2.0/networks/<uuid>.json`` becomes
  ``/v2.0/networks/{id}``.  A 404 whose path goes on past the resource id
  without reaching a sub-collection (``/v2.0/networks/<uuid>/no-such``)
  matched nothing.
- other apps (ironic) are matched against their controller tree (see
  ``pecan_tree``): ``/v1/nodes/{ident}/states/power`` whether the node is
  named by uuid or by name; a path the tree cannot walk matched nothing.

A 404 with a plain dict context and no collection means pecan found no
controller: the hooks that replace or fill the context never ran.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from oslo_metrics_middleware.routing import base
from oslo_metrics_middleware.routing import fallback
from oslo_metrics_middleware.routing import labels
from oslo_metrics_middleware.routing import pecan_tree

MARKER = "pecan.locals"
ADHOC = "webob.adhoc_attrs"
ID = "{id}"
PARENT_ID = "{parent_id}"


class PecanResolver:
    """Template from pecan's routing path and request context."""

    environ_key = MARKER

    def __init__(self) -> None:
        self._cache = base.new_cache()
        # Templates are already clean; only the mount point is added.
        self._templates = base.MountedTemplates(str)
        self._trees = Trees()

    def resolve(self, environ: dict[str, Any], status: int) -> str | None:
        if MARKER not in environ:
            return None
        adhoc = environ.get(ADHOC) or {}
        context = adhoc.get("context")
        state = adhoc.get("pecan")
        path = state.get("routing_path") if isinstance(state, dict) else None
        if not isinstance(path, str):
            path = environ.get("PATH_INFO", "")
        if path.endswith(fallback.FORMAT_SUFFIXES):
            path = fallback.strip_format(path)
        if isinstance(context, dict):
            if "collection" in context:
                return self._neutron(environ, path, context, status)
            if status == 404:
                return labels.UNMATCHED
        return self._from_tree(environ, path)

    def _neutron(
        self, environ: dict[str, Any], path: str, context: dict[str, Any], status: int
    ) -> str:
        script_name = environ.get("SCRIPT_NAME", "")
        resource_id = context.get("resource_id") or ""
        parent_id = context.get("parent_id") or ""
        if type(resource_id) is not str or type(parent_id) is not str:
            resource_id, parent_id = str(resource_id), str(parent_id)
        # Keyed by the path's shape, so a fresh id still hits the cache.
        key = (script_name, _shape(path, resource_id, parent_id))
        cached = self._cache.get(key)
        if cached is None:
            found = _template(path, resource_id, parent_id)
            if status == 404 and _past_resource(found):
                cached = labels.UNMATCHED
            else:
                cached = self._templates.label(script_name, found)
            if status != 404:  # the 404 rule depends on the status
                base.store(self._cache, key, cached, raw_path=path)
        return cached

    def _from_tree(self, environ: dict[str, Any], path: str) -> str:
        found = self._trees.match(path)
        if found is None:
            return labels.UNMATCHED
        return self._templates.label(environ.get("SCRIPT_NAME", ""), found)


class Trees:
    """The controller trees of the process's pecan apps, found on first use.

    Looking for them walks every object of the process once.  While none is
    found (an app built after the first request), a path makes them be
    looked for again, at most every RESCAN_SECONDS.
    """

    RESCAN_SECONDS = 30.0

    def __init__(self) -> None:
        self._trees: list[pecan_tree.ControllerTree] = []
        self._roots: set[int] = set()
        self._scanned = -self.RESCAN_SECONDS
        self._lock = threading.Lock()

    def match(self, path: str) -> str | None:
        for tree in self._trees:
            found = tree.match(path)
            if found is not None:
                return found
        if self._trees or time.monotonic() - self._scanned < self.RESCAN_SECONDS:
            return None
        with self._lock:
            self._scanned = time.monotonic()
            found_trees = pecan_tree.find_trees()
            added = [tree for tree in found_trees if tree.root_id not in self._roots]
            self._roots.update(tree.root_id for tree in added)
            self._trees = [*self._trees, *added]
        for tree in added:
            found = tree.match(path)
            if found is not None:
                return found
        return None


def _past_resource(found: str) -> bool:
    """Words after ``{id}`` without a ``{parent_id}``: no sub-collection."""
    parts = found.split("/")
    return ID in parts and parts.index(ID) < len(parts) - 1 and PARENT_ID not in parts


# Marks of the context's ids in a shape key; NUL never reaches a real path.
_ID_MARK = "\0r"
_PARENT_MARK = "\0p"


def _shape(path: str, resource_id: str, parent_id: str) -> str:
    """What the template of ``path`` depends on: where the context's ids
    stand, and the other segments.

    neutron's context names every id of its routes, so other segments are
    kept as they are: a path with an id the context does not name costs a
    cache entry, never a wrong label.
    """
    if resource_id and not parent_id:
        # The common member request: its id last and nowhere else, found
        # without splitting the path.
        head, slash, last = path.rpartition("/")
        if slash and last == resource_id and resource_id not in head:
            return f"{head}/{_ID_MARK}"
    parts = path.split("/")
    if parent_id:  # first: the parent's mark wins, as in _template
        _mark(parts, parent_id, _PARENT_MARK)
    if resource_id:
        _mark(parts, resource_id, _ID_MARK)
    return "/".join(parts)


def _mark(parts: list[str], segment: str, mark: str) -> None:
    # Searched in C: no Python step per segment.
    while segment in parts:
        parts[parts.index(segment)] = mark


def _template(path: str, resource_id: str, parent_id: str) -> str:
    known = {resource_id: ID} if resource_id else {}
    if parent_id:
        # neutron leaves resource_id equal to parent_id on a sub-collection.
        known[parent_id] = PARENT_ID
    return fallback.template_of([part for part in path.split("/") if part], known)
