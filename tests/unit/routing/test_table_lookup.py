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
