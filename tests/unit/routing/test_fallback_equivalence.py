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

"""The fallback's shortcuts (literal cache, common-id match, partial split)
give the label the plain rules give, on any path."""

from __future__ import annotations

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from oslo_metrics_middleware.routing import RouteResolver
from oslo_metrics_middleware.routing import base
from oslo_metrics_middleware.routing import fallback
from oslo_metrics_middleware.routing import labels
from tests.unit.test_labels_properties import SEGMENTS


def by_the_rules(path: str) -> str:
    """normalise_path without shortcuts: every segment split and classified."""
    for suffix in (".json", ".xml"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    raw = [segment for segment in path.split("/") if segment]
    if len(raw) > 1 and raw[0] == "v1" and fallback._SWIFT_ACCOUNT.fullmatch(raw[1]):
        return fallback._swift_template(raw)
    if (
        len(raw) > 1
        and fallback._VERSION.fullmatch(raw[0])
        and fallback._PROJECT_ID.fullmatch(raw[1])
    ):
        del raw[1]
    segments = [fallback.classify_segment(segment) for segment in raw[:8]]
    if len(raw) > 8:
        segments.append(fallback.TAIL)
    return "/" + "/".join(segments)


# Empty segments ('//') and many of them, around the split limit.
PIECES = st.one_of(SEGMENTS, st.just(""), st.sampled_from(["v2.1", "v1", "AUTH_x"]))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(PIECES, max_size=16), min_size=1, max_size=10))
def test_same_label_as_the_plain_rules(paths: list[list[str]]) -> None:
    for segments in paths:
        for path in ("/" + "/".join(segments), "/".join(segments) + ".json"):
            assert fallback.normalise_path(path) == by_the_rules(path)


IDS = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda uuid: uuid.hex),
    st.uuids().map(lambda uuid: str(uuid).upper()),
    st.integers(min_value=0, max_value=10**19 - 1).map(str),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(PIECES, IDS), max_size=14), st.data())
def test_paths_of_one_shape_share_a_label(
    segments: list[str], data: st.DataObject
) -> None:
    """Paths with the same shape key get the same label, so caching labels
    by shape is the same as computing them."""
    path = "/" + "/".join(segments)
    swapped = [
        data.draw(IDS.filter(lambda new, old=key: _shape(new) == old))
        if (key := _shape(segment)) != segment
        else segment
        for segment in segments
    ]
    other = "/" + "/".join(swapped)
    assert fallback.shape_key(other) == fallback.shape_key(path)
    assert fallback.normalise_path(other) == fallback.normalise_path(path)


def _shape(segment: str) -> str:
    return fallback.shape_key("/" + segment)[1:]


def test_a_project_id_and_an_integer_have_different_shapes() -> None:
    """A project id after the version is dropped, an integer is not."""
    project = "/v2.1/0123456789abcdef0123456789ABCDEF/servers"
    number = "/v2.1/1234/servers"
    assert fallback.normalise_path(project) == "/v2.1/servers"
    assert fallback.normalise_path(number) == "/v2.1/{id}/servers"
    assert fallback.shape_key(project) != fallback.shape_key(number)
    same = "/v2.1/00000000-0000-0000-0000-00000000000a/servers"
    assert fallback.shape_key(project) == fallback.shape_key(same)


# Segments around the length past which a segment is not classified, so
# the keys of long paths are tried on both sides of it.
NEAR_THE_LIMIT = st.builds(
    lambda word, size: (word * size)[: fallback.MAX_CLASSIFIED - 3 + size % 8],
    st.sampled_from(["a", "AUTH_x", "9", "ab1-", "\u00e9"]),
    st.integers(min_value=1, max_value=fallback.MAX_CLASSIFIED + 8),
)
# One for all examples: its cache holds the keys of earlier ones.
_SHARED = RouteResolver(10**6)
FILLER = st.integers(min_value=1100, max_value=3000).map(lambda size: "t" * size)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(PIECES, IDS, NEAR_THE_LIMIT), max_size=14),
    st.integers(min_value=0, max_value=14),
    FILLER,
    st.sampled_from(["", ".json", "/", "//"]),
)
def test_long_paths_are_cached_under_their_label(
    segments: list[str], at: int, filler: str, end: str
) -> None:
    """A path over the cached length gets the label the rules give it,
    from a key of bounded length, first looked up or found in the cache."""
    segments.insert(min(at, len(segments)), filler)
    path = "/" + "/".join(segments) + end
    key = fallback.long_path_key(path)
    assert len(path) > base.MAX_CACHED_PATH
    first_two = [segment for segment in path.split("/") if segment][:2]
    if all(len(segment) <= fallback.MAX_CLASSIFIED for segment in first_two):
        assert len(key) < base.MAX_CACHED_PATH
    environ = {"SCRIPT_NAME": "", "PATH_INFO": path}
    resolver = _SHARED  # a key two paths of other labels shared would show
    expected = labels.bounded(by_the_rules(path))
    assert resolver.resolve(dict(environ), 200) == expected
    assert resolver.resolve(dict(environ), 200) == expected


def test_long_paths_of_one_shape_share_a_cache_entry() -> None:
    resolver = RouteResolver(100)
    for number in range(50):
        path = f"/v2.1/servers/{number:08d}-0000-0000-0000-000000000000/tags/"
        label = resolver.resolve({"PATH_INFO": path + "t" * (1000 + number)}, 200)
        assert label == "/v2.1/servers/{id}/tags/{name}"
    assert len(resolver._path_cache) == 1


def test_long_first_segments_keep_their_meaning_in_the_key() -> None:
    """The first two segments decide a swift account or a project id at
    any length, so they stay whole in the key of a long path."""
    resolver = RouteResolver(100)
    tail = "/c/" + "o" * 1100
    account = "/v1/AUTH_" + "a" * 70 + tail
    word = "/v1/" + "w" * 75 + tail
    assert resolver.resolve({"PATH_INFO": account}, 200) == (
        "/v1/{account}/{container}/{object}"
    )
    assert resolver.resolve({"PATH_INFO": word}, 200) == "/v1/{name}/c/{name}"


def test_a_long_last_segment_in_second_place_keeps_its_meaning() -> None:
    resolver = RouteResolver(100)
    account = "/v1/AUTH_" + "a" * 1100
    word = "/v1/" + "w" * 1100
    assert resolver.resolve({"PATH_INFO": account}, 200) == "/v1/{account}"
    assert resolver.resolve({"PATH_INFO": word}, 200) == "/v1/{name}"
