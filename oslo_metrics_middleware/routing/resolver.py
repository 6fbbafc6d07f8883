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

"""Pick the route template of a finished request from what its router left.

Precedence: the operator's route table, then the resolvers named by the
``route_resolvers`` option in their order (built-in ones and plug-ins from
the ``oslo_metrics_middleware.route_resolvers`` entry points), then, for a
request no router claimed, ``__unmatched__`` on 401/404, the version
alone on a 300 version document, and the fallback normaliser otherwise.
A router that saw a request and matched nothing gives ``__unmatched__``
only if no later resolver finds its template.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import importlib
from importlib import metadata
import logging
import sys
from typing import Any
from typing import NamedTuple

from oslo_metrics_middleware import cache
from oslo_metrics_middleware.routing import base
from oslo_metrics_middleware.routing import fallback
from oslo_metrics_middleware.routing import labels
from oslo_metrics_middleware.routing import table

LOG = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "oslo_metrics_middleware.route_resolvers"

class Builtin(NamedTuple):
    """Where a built-in resolver lives, and what announces its router."""

    module: str  # in this package
    name: str
    environ_key: str  # the resolver's own environ_key
    library: str  # whose router leaves that key


BUILTIN = {
    "routes": Builtin("routes_lib", "RoutesResolver", "routes.route", "routes"),
    "placement": Builtin(
        "placement", "PlacementResolver", "placement.context", "placement"
    ),
    "flask": Builtin("flask", "FlaskResolver", "werkzeug.request", "flask"),
    "pecan": Builtin("pecan", "PecanResolver", "pecan.locals", "pecan"),
}
DEFAULT_RESOLVERS = ("routes", "placement", "flask", "pecan")
# Statuses of requests no router claimed that have no route: auth
# rejections arrive before routing, and a 404 matched nothing.
UNROUTED_STATUSES = frozenset({401, 404})
# Shapes of unrouted paths whose guessed label is kept: about ten for each
# label the guessed-label budget admits at the default max_routes.  A shape
# not kept is guessed again, at some CPU and no other cost.
PATH_SHAPES = 1024
PATH_SHAPE_BYTES = 256 * 1024
# Multiple Choices from no router is a version document (glance, heat answer
# it for versions they do not serve): only the root is a route of its own.
VERSION_CHOICES = 300


def load_resolver(name: str) -> base.Resolver:
    """A built-in resolver, or a plug-in's from its entry point.

    A built-in one whose router's library is not loaded yet is built when
    a request first carries its environ key (see BuiltOnFirstUse).  Raises
    ValueError when no resolver has that name.
    """
    builtin = BUILTIN.get(name)
    if builtin is not None:
        if builtin.library not in sys.modules:
            return BuiltOnFirstUse(builtin)
        return build_builtin(builtin)
    found = metadata.entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not found:
        raise ValueError(
            f"no route resolver named {name!r} (entry points of "
            f"{ENTRY_POINT_GROUP}: built-in {', '.join(BUILTIN)})"
        )
    factory: Callable[[], base.Resolver] = next(iter(found)).load()
    resolver = factory()
    if not callable(getattr(resolver, "resolve", None)):
        raise ValueError(f"route resolver {name!r} has no resolve() method")
    return resolver


def build_builtin(builtin: Builtin) -> base.Resolver:
    """A new built-in resolver, its module loaded if it was not."""
    module = importlib.import_module(f"{__package__}.{builtin.module}")
    factory: Callable[[], base.Resolver] = getattr(module, builtin.name)
    return factory()


class BuiltOnFirstUse:
    """A built-in resolver whose router's library was not loaded yet.

    No request can carry the environ key that router leaves before its
    library is loaded, so the resolver (and its module) is built on the
    first request that does: a worker does not hold the code of routers
    it does not have.
    """

    def __init__(self, builtin: Builtin) -> None:
        self._builtin = builtin
        self._resolver: base.Resolver | None = None

    @property
    def environ_key(self) -> str:
        return self._builtin.environ_key

    def resolve(self, environ: dict[str, Any], status: int) -> str | None:
        resolver = self._resolver
        if resolver is None:
            # Two threads may both build one: either serves.
            resolver = self._resolver = build_builtin(self._builtin)
        return resolver.resolve(environ, status)


class RouteResolver:
    """Maps a finished request to a bounded route label.

    Templates a router reported and templates guessed from raw paths have
    separate budgets: ``max_routes`` for the first, a fifth of it for the
    second, so junk paths can never crowd out a real route.
    """

    def __init__(
        self,
        max_routes: int,
        resolvers: Sequence[str] = DEFAULT_RESOLVERS,
        route_table: table.TemplateTable | None = None,
    ) -> None:
        reserved = (labels.UNMATCHED, labels.OVERFLOW)
        self._cap = labels.LabelCap(max_routes, reserved=reserved)
        self._fallback_cap = labels.LabelCap(
            fallback_budget(max_routes), reserved=reserved
        )
        # Matched on the path as the filter received it, before every
        # router, so it can also correct their labels.
        self._table = route_table
        chain = [load_resolver(name) for name in resolvers]
        # Each resolver with the environ key that must be there for it to
        # be asked: most requests skip most resolvers without a call.
        self._chain = tuple(
            (getattr(resolver, "environ_key", None), resolver.resolve)
            for resolver in chain
        )
        self._path_cache: cache.BoundedCache[str, str] = cache.BoundedCache(
            PATH_SHAPES, PATH_SHAPE_BYTES
        )

    def resolve(
        self, environ: dict[str, Any], status: int, path: str | None = None
    ) -> str:
        """The admitted route label of a request that has finished.

        ``path`` is SCRIPT_NAME + PATH_INFO as the filter received them,
        which the operator's table is matched against and the fallback
        guesses from: applications may rewrite both on the way in (glance
        drops the version).  Without it, the environ's are read now.

        A router's "seen, not matched" does not end the search: neutron's
        extension router leaves ``routes.route = None`` on every request
        it hands on to pecan, whatever order the resolvers are listed in.
        """
        if path is None:
            path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        if self._table is not None:
            found = self._table.match(path)
            if found is not None:
                # A label already admitted (the common case) needs no call.
                return found if found in self._cap.admitted else self._admit(found)
        unmatched = False
        try:
            for key, resolve in self._chain:
                if key is not None and key not in environ:
                    continue
                found = resolve(environ, status)
                if found is None:
                    continue
                if found != labels.UNMATCHED:
                    return found if found in self._cap.admitted else self._admit(found)
                unmatched = True
        except Exception:  # a broken plug-in must not break the API
            LOG.exception("Route resolution failed; using the raw path")
        if unmatched or status in UNROUTED_STATUSES:
            return labels.UNMATCHED
        if status == VERSION_CHOICES and path.strip("/"):
            return self._fallback_cap.admit(fallback.unserved_version(path))
        return self._from_path(path)

    def _admit(self, template: str) -> str:
        return self._cap.admit(template[: labels.MAX_LABEL_LENGTH])

    def _from_path(self, path: str) -> str:
        # Keyed by shape, so a fresh id per request still hits the cache;
        # a long path by the shape of what its label reads, so it is found
        # in the cache too, at the cost of one split of the path.
        if len(path) > base.MAX_CACHED_PATH:
            key = fallback.long_path_key(path)
        else:
            key = fallback.shape_key(path)
        cached = self._path_cache.get(key)
        if cached is None:
            # The label as admitted is kept: the cap never takes one back,
            # and shapes past it share the one OVERFLOW text.
            cached = self._fallback_cap.admit(
                labels.bounded(fallback.normalise_path(path))
            )
            base.store(self._path_cache, key, cached, raw_path=key)
        return cached


def fallback_budget(max_routes: int) -> int:
    """How many distinct guessed labels a process keeps."""
    return max(1, max_routes // 5)
