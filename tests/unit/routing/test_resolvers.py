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

"""Each resolver on the environ its router leaves, and their precedence."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys
import types
from typing import Any
import uuid

import pytest
import routes

from oslo_metrics_middleware.routing import RouteResolver
from oslo_metrics_middleware.routing import TemplateTable
from oslo_metrics_middleware.routing import pecan as pecan_routing
from oslo_metrics_middleware.routing import read_table
from oslo_metrics_middleware.routing.pecan import PecanResolver
from oslo_metrics_middleware.routing.placement import PlacementResolver
from oslo_metrics_middleware.routing.resolver import BUILTIN
from oslo_metrics_middleware.routing.resolver import build_builtin
from oslo_metrics_middleware.routing.resolver import load_resolver
from oslo_metrics_middleware.routing.routes_lib import RoutesResolver

UUID = "0a6e5bb3-3f4c-4b7e-9c0d-6c2a4d1f8e21"
HEX32 = "3f4c4b7e9c0d6c2a4d1f8e210a6e5bb3"


def env(path: str, script_name: str = "", **extra: Any) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path,
    }
    environ.update(extra)
    return environ


def routes_match(path: str, *templates: str, singleton: bool = True) -> Any:
    mapper = routes.Mapper()
    for template in templates:
        mapper.connect(template)
    result = mapper.routematch(path)
    return result[1] if result else None


@pytest.mark.parametrize(
    ("templates", "path", "script_name", "label"),
    [
        (
            ["/{project_id:[0-9a-f-]+}/servers/{id}/action"],
            f"/{HEX32}/servers/{UUID}/action",
            "/v2.1",
            "/v2.1/servers/{id}/action",
        ),
        (
            ["/{project_id:[0-9a-f\\-]+}/volumes/:(id)"],
            f"/{HEX32}/volumes/{UUID}",
            "/v3",
            "/v3/volumes/{id}",
        ),
        (
            ["/routers/:(id).:(format)"],
            f"/routers/{UUID}.json",
            "/v2.0",
            "/v2.0/routers/{id}",
        ),
        (
            ["/qos/policies/:policy_id/bandwidth_limit_rules"],
            f"/qos/policies/{UUID}/bandwidth_limit_rules",
            "",
            "/qos/policies/{policy_id}/bandwidth_limit_rules",
        ),
        (
            ["/images/{image_id}/file"],
            f"/images/{UUID}/file",
            "/v2",
            "/v2/images/{image_id}/file",
        ),
        (["/"], "/", "/v2.1", "/v2.1"),
    ],
)
def test_routes_templates_under_their_mount(
    templates: list[str], path: str, script_name: str, label: str
) -> None:
    route = routes_match(path, *templates)
    assert route is not None
    resolver = RouteResolver(50)
    assert (
        resolver.resolve(env(path, script_name, **{"routes.route": route}), 200)
        == label
    )


def test_routes_without_a_match_is_unmatched_whatever_the_status() -> None:
    resolver = RouteResolver(50)
    assert (
        resolver.resolve(env("/nope", **{"routes.route": None}), 200) == "__unmatched__"
    )


@pytest.mark.parametrize(
    "route",
    [
        object(),
        types.SimpleNamespace(routepath=None),
        types.SimpleNamespace(routepath=7),
    ],
    ids=["no routepath", "routepath None", "routepath not a str"],
)
def test_routes_value_without_a_usable_routepath_is_unmatched(route: object) -> None:
    resolver = RoutesResolver()
    assert (
        resolver.resolve(env("/nope", **{"routes.route": route}), 200)
        == "__unmatched__"
    )
    assert resolver.resolve(env("/nope"), 200) is None


PLACEMENT_TABLE = [
    "/",
    "",
    "/resource_providers",
    "/resource_providers/{uuid}",
    "/resource_providers/{uuid}/inventories/{resource_class}",
    "/resource_providers/{uuid}/inventories",
    "/traits/{name}",
]


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/", "/placement"),
        ("", "/placement"),
        (f"/resource_providers/{UUID}", "/placement/resource_providers/{uuid}"),
        (
            f"/resource_providers/{UUID}/inventories/VCPU",
            "/placement/resource_providers/{uuid}/inventories/{resource_class}",
        ),
        (
            f"/resource_providers/{UUID}/inventories",
            "/placement/resource_providers/{uuid}/inventories",
        ),
        ("/traits/CUSTOM_GOLD", "/placement/traits/{name}"),
        ("/nothing/here", "__unmatched__"),
    ],
)
def test_placement_labels_come_from_its_table(path: str, label: str) -> None:
    resolver = PlacementResolver(PLACEMENT_TABLE)
    environ = env(path, "/placement", **{"placement.context": object()})
    assert resolver.resolve(environ, 200) == label
    # Cached: the second answer is the same.
    assert resolver.resolve(environ, 200) == label


def test_placement_does_not_claim_requests_it_never_saw() -> None:
    resolver = PlacementResolver(PLACEMENT_TABLE)
    assert resolver.resolve(env("/traits/X"), 401) is None


def test_placement_installed_table_is_used_by_default() -> None:
    resolver = RouteResolver(50)
    environ = env(f"/resource_providers/{UUID}/usages", **{"placement.context": 1})
    assert resolver.resolve(environ, 200) == "/resource_providers/{uuid}/usages"


class FakeRule:
    rule = "/v3/users/<string:user_id>/groups/<group_id>"


class FakeRequest:
    url_rule = FakeRule()


def test_flask_rule_from_a_live_request() -> None:
    resolver = RouteResolver(50)
    environ = env(
        "/v3/users/x/groups/y", "/identity", **{"werkzeug.request": FakeRequest()}
    )
    assert (
        resolver.resolve(environ, 200)
        == "/identity/v3/users/{user_id}/groups/{group_id}"
    )


def test_flask_request_with_no_rule_is_unmatched() -> None:
    resolver = RouteResolver(50)
    assert (
        resolver.resolve(env("/v3/x", **{"werkzeug.request": None}), 405)
        == "__unmatched__"
    )


def test_pecan_context_ids_become_placeholders() -> None:
    resolver = RouteResolver(50)
    adhoc = {
        "context": {"collection": "ports", "resource_id": "p1", "parent_id": None},
        "pecan": {"routing_path": "/v2.0/ports/p1.json"},
    }
    environ = env(
        "/v2.0/ports/p1.json", **{"pecan.locals": {}, "webob.adhoc_attrs": adhoc}
    )
    assert resolver.resolve(environ, 200) == "/v2.0/ports/{id}"


@pytest.mark.parametrize(
    "order", [("routes", "pecan"), ("pecan", "routes"), ("routes", "flask", "pecan")]
)
def test_unmatched_from_one_router_does_not_hide_another(
    order: tuple[str, ...],
) -> None:
    # neutron: the extensions' RoutesMiddleware leaves routes.route = None
    # on the core resources it hands on to pecan.
    resolver = RouteResolver(50, resolvers=order)
    adhoc = {
        "context": {"collection": "networks", "resource_id": "n1"},
        "pecan": {"routing_path": "/v2.0/networks/n1"},
    }
    environ = env(
        "/v2.0/networks/n1",
        **{"routes.route": None, "pecan.locals": {}, "webob.adhoc_attrs": adhoc},
    )
    assert resolver.resolve(environ, 200) == "/v2.0/networks/{id}"
    assert resolver.resolve(env("/v2.0/x", **{"routes.route": None}), 200) == (
        "__unmatched__"
    )


def test_pecan_404_without_a_resource_is_unmatched() -> None:
    resolver = RouteResolver(50)
    environ = env("/nowhere/x", **{"pecan.locals": {}, "webob.adhoc_attrs": {}})
    assert resolver.resolve(environ, 404) == "__unmatched__"
    # No pecan app of this process has such a controller: never a raw word.
    assert resolver.resolve(environ, 200) == "__unmatched__"


@pytest.mark.parametrize(
    ("path", "context", "status", "label"),
    [
        (f"/v2.0/networks/{UUID}", {"resource_id": UUID}, 404, "/v2.0/networks/{id}"),
        (f"/v2.0/networks/{UUID}/no-such-sub", {"resource_id": UUID}, 404, None),
        (
            f"/v2.0/networks/{UUID}/segments",
            {"resource_id": UUID, "parent_id": UUID},
            404,
            "/v2.0/networks/{parent_id}/segments",
        ),
    ],
)
def test_pecan_neutron_words_after_an_id_need_a_sub_collection(
    path: str, context: dict[str, str], status: int, label: str | None
) -> None:
    resolver = RouteResolver(50)
    adhoc = {
        "context": {"collection": "networks", **context},
        "pecan": {"routing_path": path},
    }
    environ = env(path, **{"pecan.locals": {}, "webob.adhoc_attrs": adhoc})
    assert resolver.resolve(environ, status) == (label or "__unmatched__")


def test_operator_table_wins_over_routers(tmp_path: Path) -> None:
    table_file = tmp_path / "routes.txt"
    table_file.write_text(
        "# nova, as operated here\n"
        "/v2.1/os-keypairs/{name}\n"
        "\n"
        "/v2.1/servers/{id}  # show\n"
    )
    resolver = RouteResolver(50, route_table=read_table(str(table_file)))
    route = routes_match(f"/servers/{UUID}", "/servers/{server}")
    environ = env(f"/servers/{UUID}", "/v2.1", **{"routes.route": route})
    assert resolver.resolve(environ, 200) == "/v2.1/servers/{id}"
    assert (
        resolver.resolve(env("/v2.1/os-keypairs/mykey"), 200)
        == "/v2.1/os-keypairs/{name}"
    )
    assert resolver.resolve(env("/v2.1/flavors/m1.tiny"), 200) == "/v2.1/flavors/{name}"


def test_route_table_rejects_lines_that_are_not_paths(tmp_path: Path) -> None:
    table_file = tmp_path / "routes.txt"
    table_file.write_text("/v1/ok\nservers/{id}\n")
    with pytest.raises(ValueError, match=r"routes.txt:2: not a path template"):
        read_table(str(table_file))


def test_table_prefers_literal_segments_and_backtracks() -> None:
    table = TemplateTable(["/a/{x}/c", "/a/b/d", "/a/{x}"])
    assert table.match("/a/b/c") == "/a/{x}/c"
    assert table.match("/a/b/d") == "/a/b/d"
    assert table.match("/a/b") == "/a/{x}"
    assert table.match("/a/b/e") is None
    assert len(table) == 3


def test_unclaimed_401_and_404_are_unmatched_others_fall_back() -> None:
    resolver = RouteResolver(50)
    assert resolver.resolve(env(f"/v3/volumes/{UUID}"), 401) == "__unmatched__"
    assert resolver.resolve(env(f"/v3/volumes/{UUID}"), 404) == "__unmatched__"
    assert resolver.resolve(env(f"/v3/volumes/{UUID}"), 500) == "/v3/volumes/{id}"


class Plugin:
    def resolve(self, environ: dict[str, Any], status: int) -> str | None:
        return "/plugged" if environ["PATH_INFO"].startswith("/plug") else None


def test_plugin_from_an_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    class EntryPoint:
        def load(self) -> type[Plugin]:
            return Plugin

    def entry_points(group: str, name: str) -> list[EntryPoint]:
        assert group == "oslo_metrics_middleware.route_resolvers"
        return [EntryPoint()] if name == "mine" else []

    monkeypatch.setattr("importlib.metadata.entry_points", entry_points)
    resolver = RouteResolver(50, resolvers=("mine", "routes"))
    assert resolver.resolve(env("/plug/in"), 200) == "/plugged"
    assert resolver.resolve(env("/v1/other"), 200) == "/v1/other"
    with pytest.raises(ValueError, match="no route resolver named 'absent'"):
        load_resolver("absent")


def test_builtin_resolvers_are_registered_entry_points() -> None:
    from importlib import metadata

    names = {
        ep.name
        for ep in metadata.entry_points(group="oslo_metrics_middleware.route_resolvers")
    }
    assert names == {"routes", "placement", "flask", "pecan"}


def test_placement_trailing_slash_is_not_the_route_without_it() -> None:
    resolver = PlacementResolver(PLACEMENT_TABLE)
    environ = env(f"/resource_providers/{UUID}/", "/placement")
    environ["placement.context"] = object()
    assert resolver.resolve(environ, 404) == "__unmatched__"


@pytest.mark.parametrize(
    ("request_path", "path_info", "label"),
    [
        # An application that rewrites PATH_INFO on the way in (glance pops
        # the version) does not change what the fallback guesses from.
        (f"/v2.16/images/{UUID}", f"/images/{UUID}", "/v2.16/images/{id}"),
        ("/v1", "/", "/v1"),
        ("/v3/images", "/images", "/v3/images"),
    ],
)
def test_fallback_guesses_from_the_path_the_filter_received(
    request_path: str, path_info: str, label: str
) -> None:
    resolver = RouteResolver(50)
    assert resolver.resolve(env(path_info), 200, request_path) == label


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/", "/"),
        ("/v1", "/v1/__unmatched__"),
        ("/v3/images", "/v3/__unmatched__"),
        (f"/v2.99/images/{UUID}", "/v2.99/__unmatched__"),
        ("/v3/no-such-word", "/v3/__unmatched__"),
        ("/foo/bar", "__unmatched__"),
    ],
)
def test_version_document_keeps_only_the_version(path: str, label: str) -> None:
    # glance and heat answer 300 for versions they do not serve, before any
    # router sees the request: no word after the version reaches a label.
    assert RouteResolver(50).resolve(env(path), 300) == label


def test_pecan_neutron_cache_is_hit_by_fresh_ids() -> None:
    # Keyed by the path's shape: a fresh id per request, as in production,
    # must not make every request build its template anew.
    resolver = PecanResolver()
    seen = set()
    for index in range(20):
        resource = str(uuid.UUID(int=index + 1))
        parent = str(uuid.UUID(int=1000 + index))
        for path, context, label in (
            (f"/v2.0/ports/{resource}.json", {"resource_id": resource},
             "/v2.0/ports/{id}"),
            (f"/v2.0/networks/{parent}/tags/t{index}",
             {"resource_id": f"t{index}", "parent_id": parent},
             "/v2.0/networks/{parent_id}/tags/{id}"),
        ):
            adhoc = {
                "context": {"collection": "x", **context},
                "pecan": {"routing_path": path},
            }
            environ = env(path, **{"pecan.locals": {}, "webob.adhoc_attrs": adhoc})
            seen.add(resolver.resolve(environ, 200))
            assert resolver.resolve(environ, 200) == label
    assert len(seen) == 2
    assert len(resolver._cache) == 2


@pytest.mark.parametrize(
    ("path", "resource_id", "parent_id", "shape"),
    [
        ("/v2.0/networks/n-1", "n-1", "", "/v2.0/networks/\0r"),
        ("/v2.0/networks/n-1/", "n-1", "", "/v2.0/networks/\0r/"),
        ("/v2.0/n1/1", "1", "", "/v2.0/n1/\0r"),
        ("/v2.0/a/i/b/i", "i", "", "/v2.0/a/\0r/b/\0r"),
        ("/v2.0/a/p/tags/t", "t", "p", "/v2.0/a/\0p/tags/\0r"),
        ("/v2.0/a/p/tags/p", "p", "p", "/v2.0/a/\0p/tags/\0p"),
        ("1", "1", "", "\0r"),
    ],
)
def test_pecan_shape_marks_each_context_id_segment(
    path: str, resource_id: str, parent_id: str, shape: str
) -> None:
    assert pecan_routing._shape(path, resource_id, parent_id) == shape


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_table_names_each_resolver_and_its_key(name: str) -> None:
    builtin = BUILTIN[name]
    resolver = build_builtin(builtin)
    assert type(resolver).__name__ == builtin.name
    assert resolver.environ_key == builtin.environ_key
    assert load_resolver(name).environ_key == builtin.environ_key


# A worker that has Routes and no other router: the pecan resolver's code
# is loaded by the first pecan request, and labels it as usual.
ONLY_ROUTES = """
import sys
import routes
from oslo_metrics_middleware.routing import RouteResolver

def loaded():
    return sorted(
        name.rsplit(".", 1)[1] for name in sys.modules
        if name.startswith("oslo_metrics_middleware.routing.")
    )

resolver = RouteResolver(50)
print(loaded())
adhoc = {
    "context": {"collection": "ports", "resource_id": "p1", "parent_id": None},
    "pecan": {"routing_path": "/v2.0/ports/p1.json"},
}
environ = {
    "SCRIPT_NAME": "", "PATH_INFO": "/v2.0/ports/p1.json",
    "pecan.locals": {}, "webob.adhoc_attrs": adhoc,
}
print(resolver.resolve(environ, 200))
print(loaded())
"""


def test_resolvers_of_routers_not_loaded_are_built_on_first_use() -> None:
    done = subprocess.run(
        [sys.executable, "-c", ONLY_ROUTES],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    common = ["base", "extra", "fallback", "labels", "resolver", "routes_lib"]
    common += ["table", "template"]
    before, label, after = done.stdout.splitlines()
    assert before == str(sorted(common))
    assert label == "/v2.0/ports/{id}"
    assert after == str(sorted([*common, "pecan", "pecan_tree"]))


def test_routes_labels_are_kept_by_template_not_by_route_object() -> None:
    # A router that builds its Route objects per request must not make the
    # cache pin each of them (a Route holds its compiled expressions).
    class Route:  # hashable by identity, as routes.route.Route is
        routepath = "/servers/{id}"

    resolver = RoutesResolver()
    for _ in range(50):
        route = Route()
        environ = env(f"/servers/{UUID}", "/v2.1", **{"routes.route": route})
        assert resolver.resolve(environ, 200) == "/v2.1/servers/{id}"
    # One mount point and one template.
    assert resolver._templates._cache.entries == 2
