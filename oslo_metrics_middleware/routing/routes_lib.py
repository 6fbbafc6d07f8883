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

"""Routes with RoutesMiddleware: nova, cinder, glance, heat, neutron extensions.

RoutesMiddleware leaves the matched ``Route`` in ``environ['routes.route']``
(None when nothing matched), with ``singleton=True`` or False alike.  Its
``routepath`` is relative to ``SCRIPT_NAME``, read after the app returned:
paste urlmap and version negotiation (``/v2.5`` rewritten to ``/v2``) move
the version into it on the way in.
"""

from __future__ import annotations

from typing import Any

from oslo_metrics_middleware.routing import base
from oslo_metrics_middleware.routing import labels
from oslo_metrics_middleware.routing import template

ROUTE_KEY = "routes.route"


class RoutesResolver:
    """Template from the ``routes.route`` that RoutesMiddleware left."""

    environ_key = ROUTE_KEY

    def __init__(self) -> None:
        self._templates = base.MountedTemplates(template.clean_routepath)

    def resolve(self, environ: dict[str, Any], status: int) -> str | None:
        if ROUTE_KEY not in environ:
            return None
        route = environ[ROUTE_KEY]
        if route is None:  # RoutesMiddleware matched nothing
            return labels.UNMATCHED
        try:
            # Cheaper than getattr() with a default, on every request.
            routepath = route.routepath
        except AttributeError:
            return labels.UNMATCHED
        if not isinstance(routepath, str):
            return labels.UNMATCHED
        return self._templates.label(environ.get("SCRIPT_NAME", ""), routepath)
