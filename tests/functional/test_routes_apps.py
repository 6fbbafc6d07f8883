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

"""Routes apps: nova's ProjectMapper under urlmap, glance's version negotiation."""

from __future__ import annotations

from typing import Any

from paste import urlmap
import routes
import routes.middleware
import webob
import webob.dec

from oslo_metrics_middleware import MetricsMiddleware
from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional.test_placement import scrape_rows

PROJECT = "3f4c4b7e9c0d6c2a4d1f8e210a6e5bb3"
SERVER = "0a6e5bb3-3f4c-4b7e-9c0d-6c2a4d1f8e21"


@webob.dec.wsgify
def ok(request: webob.Request) -> webob.Response:
    return webob.Response(json_body={"ok": True})


def nova_like() -> Any:
    """Each route connected with and without a project id, as nova does."""
    mapper = routes.Mapper()
    for prefix in ("/{project_id:[0-9a-f-]+}", ""):
        mapper.connect(prefix + "/servers/detail", controller=ok)
        mapper.connect(prefix + "/servers/:(id)", controller=ok)
        mapper.connect(prefix + "/servers/{id}/action", controller=ok)
    router = routes.middleware.RoutesMiddleware(ok, mapper, singleton=False)
    mapping = urlmap.URLMap()
    mapping["/v2.1"] = router
    return mapping


class VersionNegotiation:
    """glance's filter: /v2.N becomes /v2 before the urlmap sees it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ["PATH_INFO"]
        if path.startswith("/v2."):
            environ["PATH_INFO"] = "/v2" + path[len("/v2.") :].lstrip("0123456789")
        return self.app(environ, start_response)


def glance_like() -> Any:
    mapper = routes.Mapper()
    mapper.connect("/images/{image_id}/file", controller=ok)
    mapper.connect("/images/{image_id}.:(format)", controller=ok)
    mapping = urlmap.URLMap()
    mapping["/v2"] = routes.middleware.RoutesMiddleware(ok, mapper)
    return VersionNegotiation(mapping)


def serve(app: Any, requests: list[tuple[str, str]]) -> list[int]:
    statuses = []
    for method, path in requests:
        response = webob.Request.blank(path, method=method).get_response(app)
        assert response.body is not None  # read and closed, as a server would
        statuses.append(response.status_int)
    return statuses


def test_nova_and_glance_shaped_routes(collector: CollectorProcess) -> None:
    conf = {"metrics_socket_file": str(collector.socket_path)}
    nova = MetricsMiddleware(nova_like(), {**conf, "service_name": "compute"})
    glance = MetricsMiddleware(glance_like(), {**conf, "service_name": "image"})

    statuses = serve(
        nova,
        [
            ("GET", f"/v2.1/{PROJECT}/servers/{SERVER}"),
            ("GET", f"/v2.1/servers/{SERVER}"),
            ("GET", "/v2.1/servers/detail"),
            ("POST", f"/v2.1/{PROJECT}/servers/{SERVER}/action"),
            ("GET", "/v2.1/flavors"),
        ],
    ) + serve(
        glance,
        [
            ("GET", f"/v2.5/images/{SERVER}/file"),
            ("GET", f"/v2/images/{SERVER}/file"),
            ("GET", f"/v2.12/images/{SERVER}.json"),
        ],
    )
    nova.sender.flush()

    assert statuses == [200] * 8
    assert scrape_rows(collector, len(statuses)) == {
        ("GET", "/v2.1/servers/{id}", "200"): 2,
        ("GET", "/v2.1/servers/detail", "200"): 1,
        ("POST", "/v2.1/servers/{id}/action", "200"): 1,
        ("GET", "__unmatched__", "200"): 1,
        ("GET", "/v2/images/{image_id}/file", "200"): 2,
        ("GET", "/v2/images/{image_id}", "200"): 1,
    }
