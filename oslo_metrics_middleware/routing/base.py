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

"""What a route resolver is, and helpers the resolvers share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import Protocol

from oslo_metrics_middleware import cache
from oslo_metrics_middleware.routing import fallback
from oslo_metrics_middleware.routing import labels
from oslo_metrics_middleware.routing import template

# Cached templates: the key space is bounded by the routers' tables, except
# where a key holds a raw path, so a full cache is simply emptied.  Each
# cache holds at most CACHE_SIZE entries and CACHE_BYTES of keys and values
# (a path cache full of the longest keys would otherwise hold megabytes);
# the fallback's cache of guessed labels has bounds of its own
# (resolver.PATH_SHAPES).
CACHE_SIZE = 4096
CACHE_BYTES = 1024 * 1024
MAX_CACHED_PATH = 1024


class Resolver(Protocol):
    """Finds the route template of a finished request, or gives up.

    ``resolve`` runs after the application returned, on every request, so
    it must say "not mine" with a dictionary lookup or two.  It returns a
    template such as ``/v2.1/servers/{id}``, ``labels.UNMATCHED`` when its
    router saw the request and matched nothing, or None when the request
    was not routed by its router.

    A resolver may name in ``environ_key`` a key its router leaves in the
    environ of every request it sees: the resolver is then asked only
    about requests that have it.  Without one, it is asked about all.
    """

    @property
    def environ_key(self) -> str | None: ...

    def resolve(self, environ: dict[str, Any], status: int) -> str | None: ...


def new_cache() -> cache.BoundedCache[Any, Any]:
    """An empty cache of a resolver, within CACHE_SIZE and CACHE_BYTES."""
    return cache.BoundedCache(CACHE_SIZE, CACHE_BYTES)


def store(
    bounded: cache.BoundedCache[Any, Any], key: Any, value: Any, raw_path: str = ""
) -> None:
    """Put ``value`` in a bounded cache.

    ``raw_path`` is the request path held in ``key``, if any: a key with a
    very long path is not kept, so one request cannot pin kilobytes.
    """
    if len(raw_path) <= MAX_CACHED_PATH:
        bounded.put(key, value)


class MountPrefixes:
    """Label form of ``SCRIPT_NAME`` values: ``/v2.1``, ``/identity``."""

    def __init__(self) -> None:
        self._cache = new_cache()
        self._cache.put("", "")

    def of(self, script_name: str) -> str:
        """The label form of ``script_name``."""
        prefix = self._cache.get(script_name)
        if prefix is None:
            prefix = fallback.normalise_path(script_name)
            if prefix == "/":
                prefix = ""
            store(self._cache, script_name, prefix, raw_path=script_name)
        return prefix


class MountedTemplates:
    """Labels from a router's own template and the mount point it sits at.

    Cached by ``(SCRIPT_NAME, raw template)``: both come from bounded
    sets (mount points and route tables), so the cache stays small.
    """

    def __init__(self, clean: Callable[[str], str]) -> None:
        self._clean = clean
        # By mount point, then by raw template: no key to build per request.
        self._cache = new_cache()
        self._prefix = MountPrefixes()

    # A method, not __call__: calling an instance costs twice as much.
    def label(self, script_name: str, raw_template: str) -> str:
        """The label of ``raw_template`` under mount point ``script_name``."""
        mounted = self._cache.get(script_name)
        label = None if mounted is None else mounted.get(raw_template)
        if label is None:
            cleaned = self._clean(raw_template)
            label = labels.bounded(
                template.join_mount(self._prefix.of(script_name), cleaned)
            )
            if len(script_name) <= MAX_CACHED_PATH:
                self._cache.put_into(script_name, raw_template, label)
        return label
