"""Pick the route template of a finished request from what its router left."""

from __future__ import annotations

from typing import Any

from oslo_metrics_middleware.routing import fallback
from oslo_metrics_middleware.routing import labels
from oslo_metrics_middleware.routing import template

# Cached templates; the key space is bounded by the routers' tables, except
# for fallback paths, so the caches are simply emptied when they fill up.
CACHE_SIZE = 4096
MAX_CACHED_PATH = 1024


class RouteResolver:
    """Maps a finished request to a bounded route label."""

    def __init__(self, max_routes: int) -> None:
        self._cap = labels.LabelCap(
            max_routes, reserved=(labels.UNMATCHED, labels.OVERFLOW)
        )
        self._routes_cache: dict[tuple[str, str], str] = {}
        self._path_cache: dict[str, str] = {}

    def resolve(self, environ: dict[str, Any], status: int) -> str:
        """The admitted route label of a request that has finished."""
        return self._cap.admit(self._template(environ, status))

    def _template(self, environ: dict[str, Any], status: int) -> str:
        if "routes.route" in environ:
            route = environ["routes.route"]
            if route is None:
                return labels.UNMATCHED
            return self._from_routes(environ.get("SCRIPT_NAME", ""), route)
        if status == 404:
            return labels.UNMATCHED
        return self._from_path(
            environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        )

    def _from_routes(self, script_name: str, route: Any) -> str:
        routepath = getattr(route, "routepath", None)
        if not isinstance(routepath, str):
            return labels.UNMATCHED
        key = (script_name, routepath)
        cached = self._routes_cache.get(key)
        if cached is None:
            prefix = fallback.normalise_path(script_name) if script_name else ""
            cleaned = template.clean_routepath(routepath)
            if prefix == "/":
                prefix = ""
            if cleaned == "/" and prefix:
                cleaned = ""
            cached = labels.bounded(prefix + cleaned)
            _store(self._routes_cache, key, cached)
        return cached

    def _from_path(self, path: str) -> str:
        cached = self._path_cache.get(path)
        if cached is None:
            cached = labels.bounded(fallback.normalise_path(path))
            if len(path) <= MAX_CACHED_PATH:
                _store(self._path_cache, path, cached)
        return cached


def _store(cache: dict[Any, str], key: Any, value: str) -> None:
    if len(cache) >= CACHE_SIZE:
        cache.clear()
    cache[key] = value
