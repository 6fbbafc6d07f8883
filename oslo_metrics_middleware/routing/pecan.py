"""pecan object dispatch (neutron core resources, ironic).

pecan routes by walking controller objects, so no template exists.  After
the request, ``environ['pecan.locals']`` marks a pecan request and WebOb's
ad-hoc attributes keep what the template is built from: ``pecan`` (the
routing path, with any ``.json`` extension already split off) and
``context``, where neutron's hooks put ``collection``, ``resource``,
``resource_id`` and ``parent_id``.  Segments equal to those ids become
``{id}`` and ``{parent_id}``; the others go through the fallback rules, so
``/v2.0/networks/<uuid>.json`` becomes ``/v2.0/networks/{id}``.
"""

from __future__ import annotations

from typing import Any

from oslo_metrics_middleware.routing import base
from oslo_metrics_middleware.routing import fallback
from oslo_metrics_middleware.routing import labels
from oslo_metrics_middleware.routing import template

MARKER = "pecan.locals"
ADHOC = "webob.adhoc_attrs"
ID = "{id}"
PARENT_ID = "{parent_id}"


class PecanResolver:
    """Template from pecan's routing path and request context."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, str, str], str] = {}
        self._prefix = base.MountPrefixes()

    def resolve(self, environ: dict[str, Any], status: int) -> str | None:
        if MARKER not in environ:
            return None
        adhoc = environ.get(ADHOC) or {}
        context = adhoc.get("context")
        if not isinstance(context, dict):
            context = {}
        if status == 404 and "collection" not in context:
            return labels.UNMATCHED
        state = adhoc.get("pecan")
        path = state.get("routing_path") if isinstance(state, dict) else None
        if not isinstance(path, str):
            path = environ.get("PATH_INFO", "")
        key = (
            environ.get("SCRIPT_NAME", ""),
            path,
            str(context.get("resource_id") or ""),
            str(context.get("parent_id") or ""),
        )
        cached = self._cache.get(key)
        if cached is None:
            cached = labels.bounded(
                template.join_mount(self._prefix(key[0]), _template(*key[1:]))
            )
            base.store(self._cache, key, cached, raw_path=path)
        return cached


def _template(path: str, resource_id: str, parent_id: str) -> str:
    for suffix in (".json", ".xml"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    parts = [part for part in path.split("/") if part]
    segments = []
    for segment in parts[: fallback.MAX_SEGMENTS]:
        if resource_id and segment == resource_id:
            segments.append(ID)
        elif parent_id and segment == parent_id:
            segments.append(PARENT_ID)
        else:
            segments.append(fallback.template_segment(segment))
    if len(parts) > fallback.MAX_SEGMENTS:
        segments.append(fallback.TAIL)
    return "/" + "/".join(segments)
