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

"""Per-process caches of the request path, bounded in entries and bytes.

A cache is read with the dict's own ``get`` on every request; only a miss
that stores something pays for the bookkeeping.  The bytes counted are
those of the key and value objects (``sys.getsizeof``, a tuple with its
items); the dict's own table is bounded by the number of entries.
"""

from __future__ import annotations

import sys
import threading
from typing import Any
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def size_of(value: object) -> int:
    """Bytes of a cached key or value: a str, or a tuple of them."""
    if type(value) is tuple:
        return sys.getsizeof(value) + sum(map(size_of, value))
    return sys.getsizeof(value)


class BoundedCache(dict[K, V]):
    """A dict of at most ``max_entries`` entries whose keys and values
    take at most ``max_bytes``.

    The keys it is meant for come from bounded sets (routes, shapes of
    paths, label sets), so a full cache is simply emptied and refilled by
    what requests still use.  An entry larger than the whole budget is
    not kept.  A value may itself be a dict of entries (see ``put_into``),
    counted against the same bounds.
    """

    __slots__ = ("_lock", "entries", "held", "max_bytes", "max_entries")

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        super().__init__()
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.entries = 0
        self.held = 0
        self._lock = threading.Lock()

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` under ``key``, within the bounds."""
        size = size_of(key) + (0 if value is key else size_of(value))
        with self._lock:
            if self._make_room(1, size):
                self[key] = value

    def put_into(
        self: BoundedCache[K, Any], key: K, inner_key: Any, value: Any
    ) -> None:
        """Keep ``value`` under ``inner_key`` in the dict held under ``key``.

        The inner dict is made if there is none; its entries count
        against this cache's bounds, so two levels cannot multiply them.
        """
        size = size_of(inner_key) + (0 if value is inner_key else size_of(value))
        with self._lock:
            inner = self.get(key)
            if inner is not None and self._fits(1, size):
                self._make_room(1, size)
            elif self._make_room(2, size + size_of(key)):
                inner = self[key] = {}
            else:
                return
            inner[inner_key] = value

    def _make_room(self, entries: int, size: int) -> bool:
        """Count in ``entries`` taking ``size`` bytes, emptying the cache
        first if they do not fit; False if they would not fit it empty."""
        if entries > self.max_entries or size > self.max_bytes:
            return False
        if not self._fits(entries, size):
            self.clear()
            self.entries = self.held = 0
        self.entries += entries
        self.held += size
        return True

    def _fits(self, entries: int, size: int) -> bool:
        return (
            self.entries + entries <= self.max_entries
            and self.held + size <= self.max_bytes
        )
