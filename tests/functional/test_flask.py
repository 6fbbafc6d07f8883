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

"""A keystone-shaped Flask app: blueprints, converters, a WebOb filter between."""

from __future__ import annotations

from typing import Any

import flask
import webob
import webob.dec

from oslo_metrics_middleware import MetricsMiddleware
from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional.test_placement import scrape_rows

USER = "ab" * 32  # keystone's sha256 user ids
GROUP = "3f4c4b7e9c0d6c2a4d1f8e210a6e5bb3"


def keystone_like() -> flask.Flask:
    app = flask.Flask("keystone_like")
    users = flask.Blueprint("users", __name__, url_prefix="/v3/users")

    @users.route("/<string:user_id>")
    def show_user(user_id: str) -> Any:
        return {"user": {"id": user_id}}

    @users.route("/<string:user_id>/groups/<string:group_id>", methods=["PUT"])
    def add_to_group(user_id: str, group_id: str) -> Any:
        return "", 204

    app.register_blueprint(users)
    app.add_url_rule("/v3", "version", lambda: {"version": "v3"})
    return app


class ContextFilter:
    """Like keystone's WebOb middlewares: the response is built by WebOb."""

    def __init__(self, app: Any) -> None:
        self.app = app

    @webob.dec.wsgify
    def __call__(self, request: webob.Request) -> webob.Response:
        return request.get_response(self.app)


def test_flask_rules_become_labels(collector: CollectorProcess) -> None:
    filtered = MetricsMiddleware(
        ContextFilter(keystone_like()),
        {"service_name": "identity", "metrics_socket_file": str(collector.socket_path)},
    )
    requests = [
        ("GET", f"/v3/users/{USER}"),
        ("GET", f"/v3/users/{GROUP}"),
        ("PUT", f"/v3/users/{USER}/groups/{GROUP}"),
        ("GET", "/v3"),
        ("GET", f"/v3/nothing/{USER}"),
        ("POST", "/v3"),
    ]
    statuses = []
    for method, path in requests:
        request = webob.Request.blank(path, method=method)
        request.script_name = "/identity"
        response = request.get_response(filtered)
        assert response.body is not None  # read and closed, as a server would
        statuses.append(response.status_int)
    filtered.sender.flush()

    assert statuses == [200, 200, 204, 200, 404, 405]
    assert scrape_rows(collector, len(requests)) == {
        ("GET", "/identity/v3/users/{user_id}", "200"): 2,
        ("PUT", "/identity/v3/users/{user_id}/groups/{group_id}", "204"): 1,
        ("GET", "/identity/v3", "200"): 1,
        ("GET", "__unmatched__", "404"): 1,
        ("POST", "__unmatched__", "405"): 1,
    }
