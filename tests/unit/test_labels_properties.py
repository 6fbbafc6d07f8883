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

"""Property tests: whatever the path, the route label is bounded and id-free."""

from __future__ import annotations

import re
import string
from typing import Any

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from oslo_metrics_middleware.routing import RouteResolver
from oslo_metrics_middleware.routing import labels

MAX_ROUTES = 20
UUIDS = st.uuids().map(str)
HEX_IDS = st.sampled_from([32, 64]).flatmap(
    lambda size: st.text("0123456789abcdef", min_size=size, max_size=size)
)
INTEGERS = st.integers(min_value=0, max_value=10**12).map(str)
IDS = st.one_of(UUIDS, HEX_IDS, INTEGERS, UUIDS.map(lambda uuid: "req-" + uuid))
WORDS = st.sampled_from(["servers", "detail", "action", "v2.1", "os-keypairs", "v3"])
# What a WSGI server puts in PATH_INFO: bytes decoded as latin-1, so any
# byte, including the halves of UTF-8 sequences and invalid ones.
RAW_SEGMENTS = st.binary(min_size=1, max_size=40).map(
    lambda raw: raw.replace(b"/", b"_").decode("latin-1")
)
PERCENT = st.text(string.ascii_letters + "%2F", min_size=1, max_size=30)
UNICODE = st.text(min_size=1, max_size=20).map(lambda text: text.replace("/", ""))
LONG = st.integers(min_value=1000, max_value=3000).map(lambda size: "x" * size)
SEGMENTS = st.one_of(IDS, WORDS, RAW_SEGMENTS, PERCENT, UNICODE, LONG)


def _environ(path: str) -> dict[str, Any]:
    return {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path}


def _ids_in(segments: list[str]) -> list[str]:
    return [
        segment
        for segment in segments
        if len(segment) >= 8 and re.fullmatch(r"(req-)?[0-9a-f-]{8,}|\d{8,}", segment)
    ]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(SEGMENTS, min_size=1, max_size=12), min_size=1, max_size=40))
def test_labels_are_bounded_short_and_free_of_ids(paths: list[list[str]]) -> None:
    resolver = RouteResolver(MAX_ROUTES)
    seen = set()
    for segments in paths:
        label = resolver.resolve(_environ("/" + "/".join(segments)), 200)
        seen.add(label)
        assert len(label) <= labels.MAX_LABEL_LENGTH
        for identifier in _ids_in(segments):
            assert identifier not in label
        assert not re.search(r"[0-9a-fA-F]{8}", label)
        assert not re.search(r"\d{4}", label)
    assert len(seen - {labels.OVERFLOW, labels.UNMATCHED}) <= MAX_ROUTES


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=3000), SEGMENTS)
def test_a_huge_segment_gives_a_short_label(size: int, tail: str) -> None:
    resolver = RouteResolver(MAX_ROUTES)
    label = resolver.resolve(_environ("/v2.1/" + "a" * size + "/" + tail), 200)
    assert len(label) <= 60
    assert label.startswith("/v2.1/")
