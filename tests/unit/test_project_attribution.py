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

"""The project the filter sends: read after the application returns."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

import pytest

from oslo_metrics_middleware import protocol
from tests.unit.conftest import DatagramSink
from tests.unit.conftest import make_filter
from tests.wsgi import call
from tests.wsgi import environ

StartResponse = Callable[..., Any]


class _Plugin:
    """What auth_token leaves in the environ: its user is the token's."""

    def __init__(self, user: object) -> None:
        self.user = user


VALIDATED = {
    "keystone.token_auth": _Plugin(user=object()),
    "HTTP_X_IDENTITY_STATUS": "Confirmed",
}


def _setting(
    value: Any, auth: dict[str, Any] = VALIDATED
) -> Callable[..., Iterable[bytes]]:
    """An app that, like auth_token before it, sets the project."""

    def app(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        env.update(auth)
        if value is not None:
            env["HTTP_X_PROJECT_ID"] = value
        start_response("200 OK", [])
        return [b"ok"]

    return app


def _projects(app: Callable[..., Iterable[bytes]], sink: DatagramSink,
              **options: str) -> list[Any] | None:
    mw = make_filter(app, sink, **options)
    call(mw, environ("GET", "/v2.1/servers"))
    mw.sender.flush()
    [message] = [m for m in sink.messages() if m["name"] == protocol.BATCH]
    return protocol.projects_of(message["action"]["value"], 1)


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("0f1e2d3c4b5a69788796a5b4c3d2e1f0", ["0f1e2d3c4b5a69788796a5b4c3d2e1f0"]),
        (None, None),  # no project: no column at all
        ("", None),  # an unscoped token
        ("x" * 64, ["x" * 64]),
        ("x" * 65, [protocol.UNREADABLE_PROJECT]),
        (b"bytes", [protocol.UNREADABLE_PROJECT]),
    ],
)
def test_the_project_set_during_the_request_is_sent(
    sink: DatagramSink, value: Any, sent: list[str] | None
) -> None:
    assert _projects(_setting(value), sink) == sent


def test_option_off(sink: DatagramSink) -> None:
    app = _setting("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    assert _projects(app, sink, project_attribution="false") is None


@pytest.mark.parametrize(
    "auth",
    [
        {},  # no auth middleware: the header is the client's
        # keystone's middleware without a token: it keeps the client's
        # headers, and its plugin has no user.
        {"keystone.token_auth": _Plugin(user=None),
         "HTTP_X_IDENTITY_STATUS": "Confirmed"},
        # auth_token deferring its decision on a token it refused.
        {**VALIDATED, "HTTP_X_IDENTITY_STATUS": "Invalid"},
        {"HTTP_X_IDENTITY_STATUS": "Confirmed"},
        {"keystone.token_auth": None, "HTTP_X_IDENTITY_STATUS": "Confirmed"},
    ],
)
def test_no_project_without_a_validated_token(
    sink: DatagramSink, auth: dict[str, Any]
) -> None:
    app = _setting("0f1e2d3c4b5a69788796a5b4c3d2e1f0", auth)
    assert _projects(app, sink) is None


def test_a_request_without_a_project_beside_one_with(sink: DatagramSink) -> None:
    """A batch with a project column has null for a request with none."""
    projects = iter(["0f1e2d3c4b5a69788796a5b4c3d2e1f0", None])

    def app(env: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        return _setting(next(projects))(env, start_response)

    mw = make_filter(app, sink)
    call(mw, environ("GET", "/v2.1/servers"))
    call(mw, environ("GET", "/v2.1/servers"))
    mw.sender.flush()
    [message] = [m for m in sink.messages() if m["name"] == protocol.BATCH]
    assert protocol.projects_of(message["action"]["value"], 2) == [
        "0f1e2d3c4b5a69788796a5b4c3d2e1f0", None
    ]
