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

"""Templates guessed from raw paths, and the budget they get."""

from __future__ import annotations

from collections.abc import Iterable
import random
from typing import Any

import pytest

from oslo_metrics_middleware.routing import RouteResolver
from oslo_metrics_middleware.routing import fallback
from oslo_metrics_middleware.routing.resolver import fallback_budget
from tests.unit.conftest import DatagramSink
from tests.unit.conftest import make_filter
from tests.unit.conftest import rows
from tests.unit.routing.test_resolvers import HEX32
from tests.unit.routing.test_resolvers import UUID
from tests.unit.routing.test_resolvers import env
from tests.unit.routing.test_resolvers import routes_match
from tests.wsgi import call
from tests.wsgi import environ as wsgi_environ


@pytest.mark.parametrize(
    ("path", "label"),
    [
        (f"/v2.1/{HEX32}/servers/{UUID}/action", "/v2.1/servers/{id}/action"),
        (f"/v2.1/{UUID}/servers/detail", "/v2.1/servers/detail"),
        ("/v2.1/os-aggregates/12", "/v2.1/os-aggregates/{id}"),
        (
            "/v2.1/flavors/m1.tiny/os-extra_specs/hw:cpu_policy",
            "/v2.1/flavors/{name}/os-extra_specs/{name}",
        ),
        (
            "/v2.1/os-instance-actions/req-" + UUID,
            "/v2.1/os-instance-actions/{request_id}",
        ),
        ("/v3/users/" + "ab" * 32, "/v3/users/{id}"),
        ("/v3/users/" + HEX32, "/v3/users/{id}"),
        ("/v3/domains/default", "/v3/domains/default"),
        (f"/v2.0/networks/{UUID}.json", "/v2.0/networks/{id}"),
        ("/v3/scheduler-stats/host@backend#pool", "/v3/scheduler-stats/{name}"),
        (f"/v1/AUTH_{HEX32}", "/v1/{account}"),
        (
            f"/v1/AUTH_{HEX32}/photos/2026/june/ü.jpg",
            "/v1/{account}/{container}/{object}",
        ),
        ("/a/b/c/d/e/f/g/h/i/j", "/a/b/c/d/e/f/g/h/{tail}"),
        (
            "/v2/metadefs/namespaces/OS::Compute::Hypervisor",
            "/v2/metadefs/namespaces/{name}",
        ),
        # Random tokens made of plain letters and digits are ids.
        ("/v2.1/servers/Xk9PqLmZ2rTy7WvB3nQs", "/v2.1/servers/{id}"),
        ("/v2.1/servers/k3j9x0qzwv", "/v2.1/servers/{id}"),
        ("/v2.1/servers/XkPqLmZrTyWvBnQs", "/v2.1/servers/{id}"),
        ("/v2.1/servers/" + "Xk9PqLmZ2r" * 5, "/v2.1/servers/{id}"),
        # API words with digits or camel case stay.
        ("/v3/OS-EC2/ec2tokens", "/v3/OS-EC2/ec2tokens"),
        ("/v3/s3tokens", "/v3/s3tokens"),
        ("/v2.0/l2-gateways/ipv6", "/v2.0/l2-gateways/ipv6"),
        ("/v1/getConsoleOutput", "/v1/getConsoleOutput"),
        ("/v1/ProcVirtualization", "/v1/ProcVirtualization"),
        ("/v3/OS-OAUTH1/access_tokens", "/v3/OS-OAUTH1/access_tokens"),
    ],
)
def test_fallback_shapes(path: str, label: str) -> None:
    assert fallback.normalise_path(path) == label


def test_random_tokens_of_every_shape_are_ids() -> None:
    rng = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    for length in (16, 20, 24, 32):
        for _ in range(200):
            token = "".join(rng.choice(alphabet) for _ in range(length))
            assert fallback.normalise_path("/v1/things/" + token) == (
                "/v1/things/{id}"
            ), token


def test_fallback_labels_cannot_crowd_out_router_templates() -> None:
    max_routes = 50
    resolver = RouteResolver(max_routes)
    junk = [resolver.resolve(env(f"/junk{n}/x"), 200) for n in range(max_routes)]
    budget = fallback_budget(max_routes)
    assert budget == 10
    assert len(set(junk) - {"__overflow__"}) == budget
    assert junk.count("__overflow__") == max_routes - budget

    templates = [f"/servers{n}/{{id}}" for n in range(max_routes)]
    routed = []
    for template in templates:
        path = template.replace("{id}", UUID)
        route = routes_match(path, template)
        routed.append(resolver.resolve(env(path, **{"routes.route": route}), 200))
    assert routed == templates
    route = routes_match("/more/" + UUID, "/more/{id}")
    assert (
        resolver.resolve(env("/more/" + UUID, **{"routes.route": route}), 200)
        == "__overflow__"
    )


def test_filter_guesses_from_the_path_before_the_app_rewrote_it(
    sink: DatagramSink,
) -> None:
    def negotiation(env: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        # glance: an unsupported version leaves PATH_INFO, moved nowhere.
        env["PATH_INFO"] = "/" + env["PATH_INFO"].split("/", 2)[2]
        start_response("300 Multiple Choices", [])
        return [b"{}"]

    mw = make_filter(negotiation, sink, service_name="image")
    for path in (f"/v2.16/images/{UUID}", "/v3/images", "/v1/x", "/foo/bar"):
        call(mw, wsgi_environ("GET", path))
    mw.sender.flush()
    assert [row[2] for row in rows(sink.messages())] == [
        "/v2.16/__unmatched__",
        "/v3/__unmatched__",
        "/v1/__unmatched__",
        "__unmatched__",
    ]
