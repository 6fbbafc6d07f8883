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

"""Every cache of the request path stays within its entries and bytes,
whatever keys requests bring."""

from __future__ import annotations

from collections.abc import Callable
import string
import sys
from typing import Any

import pytest

from oslo_metrics_middleware import cache
from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.routing import base
from oslo_metrics_middleware.routing import fallback
from oslo_metrics_middleware.routing import labels
from oslo_metrics_middleware.routing.resolver import PATH_SHAPE_BYTES
from oslo_metrics_middleware.routing.resolver import PATH_SHAPES
from oslo_metrics_middleware.routing.resolver import RouteResolver

_NOT_HEX = string.ascii_lowercase[6:]


def _word(number: int, width: int) -> str:
    """A distinct plain word of ``width`` letters: never an id."""
    letters = []
    for _ in range(width):
        number, digit = divmod(number, len(_NOT_HEX))
        letters.append(_NOT_HEX[digit])
    return "".join(letters)


def _held(bounded: dict[Any, Any]) -> tuple[int, int]:
    """Entries and bytes of keys and values, counted here, not by the cache:
    a value that is its own key counts once, an inner dict by its entries."""
    entries = held = 0
    for key, value in bounded.items():
        entries += 1
        held += sys.getsizeof(key) + sum(map(sys.getsizeof, key)) * (type(key) is tuple)
        if isinstance(value, dict):
            inner_entries, inner_held = _held(value)
            entries += inner_entries
            held += inner_held
        elif value is not key:
            held += sys.getsizeof(value)
    return entries, held


def _emptied(
    bounded: cache.BoundedCache[Any, Any],
) -> cache.BoundedCache[Any, Any]:
    """A process-wide cache, emptied of what earlier tests left."""
    bounded.clear()
    bounded.entries = bounded.held = 0
    return bounded


def _fill_and_check(
    bounded: cache.BoundedCache[Any, Any], fill: Callable[[int], object], count: int
) -> int:
    """Call ``fill`` ``count`` times, checking the bounds as it goes
    (counted here every 61 calls, and the cache's own count of them);
    the most entries seen at once."""
    most = 0
    for number in range(count):
        fill(number)
        most = max(most, bounded.entries)
        if number % 61 == 0 or number == count - 1:
            entries, held = _held(bounded)
            assert entries <= bounded.max_entries
            assert held <= bounded.max_bytes
            assert (entries, held) == (bounded.entries, bounded.held)
    return most


def test_path_cache_of_longest_keys_stays_within_its_bytes() -> None:
    """Paths of the longest cached length, each of its own shape: the
    entry cap alone would let them pin 4096 keys of a kilobyte."""
    resolver = RouteResolver(100)
    long_segment = "q" * (base.MAX_CACHED_PATH - 7)

    def request(number: int) -> object:
        path = f"/{long_segment}/{_word(number, 5)}"
        return resolver.resolve({"PATH_INFO": path}, 200)

    most = _fill_and_check(resolver._path_cache, request, 1500)
    assert resolver._path_cache.max_bytes == PATH_SHAPE_BYTES == 256 * 1024
    # As many of them as 256 KiB holds, and no more.
    key, label = next(iter(resolver._path_cache.items()))
    assert len(key) == base.MAX_CACHED_PATH
    assert most == PATH_SHAPE_BYTES // (sys.getsizeof(key) + sys.getsizeof(label))


def test_path_cache_stays_within_its_entries() -> None:
    resolver = RouteResolver(100)
    most = _fill_and_check(
        resolver._path_cache,
        lambda number: resolver.resolve({"PATH_INFO": f"/{_word(number, 4)}"}, 200),
        PATH_SHAPES + 300,
    )
    assert most == PATH_SHAPES == 1024


def test_shapes_past_the_cap_share_the_overflow_text() -> None:
    """The label is cached as admitted: shapes past the fallback budget
    keep no label text of their own, and get the same label as before."""
    resolver = RouteResolver(5)  # a fallback budget of one
    first = resolver.resolve({"PATH_INFO": "/alpha"}, 200)
    assert first == "/alpha"
    for word in ("beta", "gamma", "delta"):
        assert resolver.resolve({"PATH_INFO": f"/{word}"}, 200) == labels.OVERFLOW
        assert resolver.resolve({"PATH_INFO": f"/{word}"}, 200) == labels.OVERFLOW
    assert resolver.resolve({"PATH_INFO": "/alpha"}, 200) == "/alpha"
    values = list(resolver._path_cache.values())
    assert values.count(labels.OVERFLOW) == 3
    assert all(value is labels.OVERFLOW for value in values[1:])


def test_literal_words_stay_within_entries_and_bytes() -> None:
    cached = _emptied(fallback._literals)
    longest = 32  # the longest literal word (fallback._WORD)

    def segment(number: int) -> object:
        word = "w" + _word(number, longest - 1)
        assert fallback.template_segment(word) == word
        return word

    most = _fill_and_check(cached, segment, 3000)
    assert most == fallback.LITERALS_BYTES // sys.getsizeof("w" * longest)
    short = _fill_and_check(
        cached, lambda number: fallback.template_segment(_word(number, 3)), 2500
    )
    assert short == fallback.LITERALS_SIZE == 512


def test_label_set_texts_stay_within_entries_and_bytes() -> None:
    cached = _emptied(protocol._KEY_TEXTS)
    route = "/" + "r" * (labels.MAX_LABEL_LENGTH - 9)

    def label_set(number: int) -> object:
        key = ("compute", "DELETE", route + _word(number, 8), 503, "x" * 40, None, None)
        return protocol._key_text(key)

    most = _fill_and_check(cached, label_set, 4000)
    assert cached.max_bytes == protocol.MAX_KEY_TEXT_BYTES == 1024 * 1024
    key = ("compute", "DELETE", route + "a" * 8, 503, "x" * 40, None, None)
    assert most == protocol.MAX_KEY_TEXT_BYTES // (
        cache.size_of(key) + sys.getsizeof(protocol._ENCODER.encode(key))
    )


def test_mounted_templates_count_both_levels() -> None:
    """Mount points times templates could multiply two caps: both levels
    count against one."""
    templates = base.MountedTemplates(str)

    def label(number: int) -> object:
        return templates.label(f"/{_word(number % 50, 6)}", f"/{_word(number, 5)}")

    most = _fill_and_check(templates._cache, label, base.CACHE_SIZE + 500)
    assert most <= base.CACHE_SIZE
    assert templates.label("/mount", "/{id}/x") == "/mount/{id}/x"


@pytest.mark.parametrize("size", [1, 4])
def test_an_entry_larger_than_the_budget_is_not_kept(size: int) -> None:
    bounded: cache.BoundedCache[str, str] = cache.BoundedCache(10, 100 * size)
    bounded.put("a", "b")
    bounded.put("k" * 200 * size, "v")
    assert dict(bounded) == {"a": "b"}
    assert (bounded.entries, bounded.held) == (1, 2 * sys.getsizeof("a"))
    bounded.put_into("m" * 200 * size, "k", "v")
    assert dict(bounded) == {"a": "b"}


def test_a_full_cache_is_emptied_then_refilled() -> None:
    bounded: cache.BoundedCache[str, str] = cache.BoundedCache(3, 10_000)
    for key in "abcd":
        bounded.put(key, key.upper())
    assert dict(bounded) == {"d": "D"}
    assert (bounded.entries, bounded.held) == (1, 2 * sys.getsizeof("d"))

