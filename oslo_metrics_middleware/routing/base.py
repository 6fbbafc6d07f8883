"""What a route resolver is, and helpers the resolvers share."""

from __future__ import annotations

from typing import Any
from typing import Protocol

from oslo_metrics_middleware.routing import fallback

# Cached templates: the key space is bounded by the routers' tables, except
# where a key holds a raw path, so a full cache is simply emptied.
CACHE_SIZE = 4096
MAX_CACHED_PATH = 1024


class Resolver(Protocol):
    """Finds the route template of a finished request, or gives up.

    ``resolve`` runs after the application returned, on every request, so
    it must say "not mine" with a dictionary lookup or two.  It returns a
    template such as ``/v2.1/servers/{id}``, ``labels.UNMATCHED`` when its
    router saw the request and matched nothing, or None when the request
    was not routed by its router.
    """

    def resolve(self, environ: dict[str, Any], status: int) -> str | None: ...


def store(cache: dict[Any, str], key: Any, value: str) -> None:
    """Put ``value`` in a bounded cache."""
    if len(cache) >= CACHE_SIZE:
        cache.clear()
    cache[key] = value


class MountPrefixes:
    """Label form of ``SCRIPT_NAME`` values: ``/v2.1``, ``/identity``."""

    def __init__(self) -> None:
        self._cache: dict[str, str] = {"": ""}

    def __call__(self, script_name: str) -> str:
        prefix = self._cache.get(script_name)
        if prefix is None:
            prefix = fallback.normalise_path(script_name)
            if prefix == "/":
                prefix = ""
            if len(script_name) <= MAX_CACHED_PATH:
                store(self._cache, script_name, prefix)
        return prefix
