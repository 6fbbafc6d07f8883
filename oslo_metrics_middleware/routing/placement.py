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

"""Placement: a ``routes.Mapper`` dispatched without RoutesMiddleware.

Placement's handler matches its own route table and leaves only
``wsgiorg.routing_args`` (no template, nothing at all on 401/404/406), so
the label comes from matching the path against Placement's own table,
``placement.handler.ROUTE_DECLARATIONS``.  Only requests that passed
Placement's context middleware, which sets ``placement.context``, are
matched: a 406 for a bad microversion still gets its template.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from oslo_metrics_middleware.routing import base
from oslo_metrics_middleware.routing import labels
from oslo_metrics_middleware.routing import table

MARKER = "placement.context"


def placement_templates() -> list[str]:
    """The templates of the installed Placement, [] when it is absent."""
    try:
        from placement import handler  # optional, and slow to import
    except ImportError:
        return []
    return ["/" + path.strip("/") for path in handler.ROUTE_DECLARATIONS]


class PlacementResolver:
    """Template from Placement's route table, for requests Placement saw."""

    environ_key = MARKER

    def __init__(self, templates: Iterable[str] | None = None) -> None:
        self._templates = list(templates) if templates is not None else None
        self._table: table.TemplateTable | None = None
        self._labels = base.MountedTemplates(str)

    def resolve(self, environ: dict[str, Any], status: int) -> str | None:
        if MARKER not in environ:
            return None
        path = environ.get("PATH_INFO", "")
        if len(path) > 1 and path.endswith("/"):
            return labels.UNMATCHED  # Placement's router answers these 404
        if self._table is None:
            # Built on first use: importing placement costs a second.
            templates = self._templates
            self._table = table.TemplateTable(
                placement_templates() if templates is None else templates
            )
        found = self._table.match(path)
        if found is None:
            return labels.UNMATCHED
        return self._labels.label(environ.get("SCRIPT_NAME", ""), found)
