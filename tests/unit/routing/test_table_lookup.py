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

"""Route-table matching: literal segments first, backtracking when they fail."""

from __future__ import annotations

import gc
import itertools
import random

import pytest

from oslo_metrics_middleware.routing import TemplateTable
from oslo_metrics_middleware.routing import table as table_module

UUID_A = "0a6e5bb3-3f4c-4b7e-9c0d-6c2a4d1f8e21"
UUID_B = "1b7f6cc4-4a5d-4c8f-8d1e-7d3b5e2a9f32"


@pytest.mark.parametrize("first", [UUID_A, "7"])
def test_literal_segments_that_look_like_ids_are_not_shared(first: str) -> None:
    table = TemplateTable(["/v1/7/x", f"/v1/{UUID_A}/x", "/v1/{id}/x"])
    assert table.match(f"/v1/{first}/x") == f"/v1/{first}/x"
    assert table.match("/v1/8/x") == "/v1/{id}/x"
    assert table.match(f"/v1/{UUID_B}/x") == "/v1/{id}/x"
    assert table.match("/v1/7/x") == "/v1/7/x"
    assert table.match(f"/v1/{UUID_A}/x") == f"/v1/{UUID_A}/x"


def test_fresh_ids_match_the_placeholder() -> None:
    table = TemplateTable(["/v2.1/servers/{id}", "/v2.1/servers/detail"])
    for server in (UUID_A, UUID_B, "12", "13"):
        assert table.match(f"/v2.1/servers/{server}") == "/v2.1/servers/{id}"
    assert table.match("/v2.1/servers/detail") == "/v2.1/servers/detail"
    assert table.match("/v2.1/servers") is None
    assert table.match("/v2.1/servers/detail/x") is None


def test_a_literal_that_leads_nowhere_gives_way_to_the_placeholder() -> None:
    table = TemplateTable(["/v1/nodes/detail", "/v1/nodes/{id}/states"])
    assert table.match("/v1/nodes/detail/states") == "/v1/nodes/{id}/states"
    assert table.match("/v1/nodes/detail") == "/v1/nodes/detail"
    assert table.match("//v1//nodes/x/states/") == "/v1/nodes/{id}/states"
    assert table.match("/") is None


def test_leaves_share_one_empty_literal_dict_that_stays_empty() -> None:
    """Nodes without literal children hold no dict of their own; adding
    below one gives it its own, and the shared one is never written."""
    table = TemplateTable(["/v1/{id}", "/v1/{id}/tags", "/v2/{id}/{name}"])
    table.add("/v1/{id}/tags/{tag}/x")
    assert table_module._NO_LITERALS == {}
    assert table.match(f"/v1/{UUID_A}") == "/v1/{id}"
    assert table.match(f"/v1/{UUID_A}/tags") == "/v1/{id}/tags"
    assert table.match(f"/v1/{UUID_A}/tags/a/x") == "/v1/{id}/tags/{tag}/x"
    assert table.match(f"/v2/{UUID_A}/b") == "/v2/{id}/{name}"
    assert table.match(f"/v2/{UUID_A}/b/c") is None


def _first_in_literal_order(templates: list[str], path: str) -> str | None:
    """The template a path matches, found the slow way: of the templates
    of its length whose literal segments it has, the one with a literal
    where the others have a placeholder earliest, the first added of equal
    shapes."""
    segments = [segment for segment in path.split("/") if segment]
    candidates = []
    for order, template in enumerate(templates):
        parts = [part for part in template.split("/") if part]
        if len(parts) != len(segments):
            continue
        shape = [part.startswith("{") for part in parts]
        if all(s or p == g for s, p, g in zip(shape, parts, segments, strict=True)):
            candidates.append((shape, order, template))
    return min(candidates)[2] if candidates else None


def test_match_is_the_first_template_in_literal_first_order() -> None:
    """Random tables of few words, so that shapes overlap, against the
    slow reading of the rule: every path of up to four of those words."""
    rng = random.Random(23)
    words = ["a", "b", "c"]
    for _ in range(200):
        templates = []
        for _ in range(rng.randint(1, 12)):
            parts = [
                rng.choice([*words, "{x}", "{y}"])
                for _ in range(rng.randint(0, 4))
            ]
            templates.append("/" + "/".join(parts))
        table = TemplateTable(templates)
        for length in range(5):
            for path in itertools.product([*words, "d"], repeat=length):
                text = "/" + "/".join(path)
                assert table.match(text) == _first_in_literal_order(templates, text)


def test_a_template_takes_no_node_of_its_own() -> None:
    """Its last segment is a key or the placeholder child of the node
    before: 100 templates under one literal are 102 nodes (the root of
    the tree of their length, the literal's, one each), and a longer one
    has a tree of its own."""
    before = sum(type(o) is table_module._Node for o in gc.get_objects())
    table = TemplateTable([f"/v1/r{number}/{{id}}" for number in range(100)])
    assert sum(type(o) is table_module._Node for o in gc.get_objects()) - before == 102
    table.add("/v1/r7/{id}/tags")  # four nodes: a tree of four segments
    table.add("/v1/r8/x")  # none
    table.add("/v1/r8/{name}")  # the shape of /v1/r8/{id}: not added
    assert sum(type(o) is table_module._Node for o in gc.get_objects()) - before == 106
    assert len(table) == 102
    assert table.match("/v1/r7/12") == "/v1/r7/{id}"
    assert table.match("/v1/r7/12/tags") == "/v1/r7/{id}/tags"
    assert table.match("/v1/r8/x") == "/v1/r8/x"
    assert table.match("/v1/r8/y") == "/v1/r8/{id}"
    assert table.match("/v1/r100/1") is None
    assert table.match("/v1/r7/12/tags/x") is None


def test_paths_and_templates_of_any_length() -> None:
    deep = "/" + "/".join(f"s{number}" for number in range(70))
    table = TemplateTable(["/", "/a/{x}", deep + "/{id}"])
    assert table.match(deep + "/7") == deep + "/{id}"
    assert table.match(deep + "/7/8") is None
    assert table.match("/a/" + "/".join(["b"] * 100)) is None
    assert table.match("/a/" + "b/" * 100) is None
    assert table.match("//") == "/"
    assert table.match("/a//b") == "/a/{x}"
    assert TemplateTable([]).match("/") is None
