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

"""Requests of known projects through keystonemiddleware's auth_token.

Run with the interpreter of the OpenStack venv (``.venv-openstack``), the
repository on PYTHONPATH:

    python -m tests.openstack.projects --socket PATH --metrics URL --out FILE

A paste pipeline ``metrics authtoken app`` (and one with
``project_attribution = false``) is loaded with paste.deploy; auth_token
validates tokens through keystonemiddleware's AuthTokenFixture, which
answers its token lookups in place of a keystone server.  First each
project is sent requests until the collector at URL counts them under its
own label; then the exact load is sent, and FILE gets what was sent and the
counters read just before it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import re
import time
from typing import Any
import urllib.request

from keystonemiddleware import fixture
from paste import deploy
import webob

from oslo_metrics_middleware import lifecycle

# Three projects as keystone names them; a count of requests each.
PROJECTS = {
    "0f1e2d3c4b5a69788796a5b4c3d2e1f0": 7,
    "aaaabbbbccccddddeeeeffff00001111": 3,
    "default": 1,
}
SPOOFED = "5p00f5p00f5p00f5p00f5p00f5p00f00"
PASTE = """
[pipeline:main]
pipeline = metrics authtoken app

[pipeline:off]
pipeline = metrics_off authtoken app

[filter:metrics]
paste.filter_factory = oslo_metrics_middleware:MetricsMiddleware.factory
service_name = compute
metrics_socket_file = {socket}
flush_interval = 0.05

[filter:metrics_off]
paste.filter_factory = oslo_metrics_middleware:MetricsMiddleware.factory
service_name = compute-off
metrics_socket_file = {socket}
flush_interval = 0.05
project_attribution = false

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = http://127.0.0.1:5000/
delay_auth_decision = false

[app:app]
paste.app_factory = tests.openstack.projects:app_factory
"""
LINE = re.compile(r"^openstack_api_project_requests_total\{(.*)\} (\S+)$")


def app_factory(global_conf: Any, **local_conf: Any) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ.get("HTTP_X_PROJECT_ID", "").encode()]

    return app


def counted(metrics: str) -> dict[str, dict[str, float]]:
    """openstack_api_project_requests_total by service and project."""
    with urllib.request.urlopen(metrics, timeout=10) as response:
        text = response.read().decode()
    found: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        match = LINE.match(line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
            found.setdefault(labels["service"], {})[labels["project"]] = float(
                match.group(2)
            )
    return found


def get(app: Any, headers: dict[str, str]) -> int:
    response = webob.Request.blank("/v2.1/servers", headers=headers).get_response(app)
    return int(response.status_int)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    parser.add_argument("--metrics", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    paste_file = Path(args.out).with_suffix(".ini")
    paste_file.write_text(PASTE.format(socket=args.socket))
    tokens = fixture.AuthTokenFixture()
    tokens.setUp()
    try:
        token = {p: f"token-of-{p}" for p in PROJECTS}
        for project, token_id in token.items():
            tokens.add_token_data(token_id=token_id, project_id=project)
        app = deploy.loadapp(f"config:{paste_file}", name="main")
        off = deploy.loadapp(f"config:{paste_file}", name="off")
        # Until every project is counted under its own label (two windows).
        deadline = time.monotonic() + 30
        while True:
            for project in PROJECTS:
                assert get(app, {"X-Auth-Token": token[project]}) == 200
            lifecycle.flush_all()
            time.sleep(0.3)
            before = counted(args.metrics)
            named = before.get("compute", {})
            if all(named.get(project, 0) > 0 for project in PROJECTS):
                break
            assert time.monotonic() < deadline, before
        statuses: list[int] = []
        for project, count in PROJECTS.items():
            for _ in range(count):
                statuses.append(get(app, {"X-Auth-Token": token[project]}))
                statuses.append(get(off, {"X-Auth-Token": token[project]}))
        # auth_token removes a project header the client sent.
        first = next(iter(PROJECTS))
        spoofed = {"X-Auth-Token": token[first], "X-Project-Id": SPOOFED}
        statuses.append(get(app, spoofed))
        statuses.append(
            get(app, {"X-Auth-Token": "not-a-token", "X-Project-Id": SPOOFED})
        )
        statuses.append(get(app, {"X-Project-Id": SPOOFED}))
        lifecycle.flush_all()
    finally:
        tokens.cleanUp()
    Path(args.out).write_text(
        json.dumps({"before": before, "statuses": statuses, "sent": PROJECTS})
    )


if __name__ == "__main__":
    main()
