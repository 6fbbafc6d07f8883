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

"""Basic authentication in front of /metrics."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from oslo_metrics_middleware.collector import web_config
from oslo_metrics_middleware.collector.options import StartupError
from tests import wsgi

HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4))


def _app(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"metrics\n"]


def _call(app: Any, authorization: str | None) -> tuple[str, list[Any], bytes]:
    answer: list[Any] = []
    extra = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    body = b"".join(app(wsgi.environ("GET", "/metrics", **extra),
                        lambda status, headers: answer.extend([status, headers])))
    return answer[0], answer[1], body


def _basic(credentials: bytes) -> str:
    return "Basic " + base64.b64encode(credentials).decode()


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer x", "Basic !!!", _basic(b"prometheus"),
     _basic(b"prometheus:wrong"), _basic(b"other:s3cret"),
     _basic(b"prometheus:s3cret\xff")],
)
def test_anything_but_the_right_credentials_is_refused(
    authorization: str | None,
) -> None:
    app = web_config.BasicAuth(_app, {"prometheus": HASH})
    status, headers, body = _call(app, authorization)
    assert status == "401 Unauthorized"
    assert dict(headers)["WWW-Authenticate"].startswith("Basic realm=")
    assert body == b"Unauthorized\n"


def test_the_right_credentials_pass_every_time() -> None:
    app = web_config.BasicAuth(_app, {"prometheus": HASH})
    for _ in range(3):  # the second and third from the remembered digest
        assert _call(app, _basic(b"prometheus:s3cret")) == (
            "200 OK", [("Content-Type", "text/plain")], b"metrics\n"
        )
    assert _call(app, _basic(b"prometheus:s3cre"))[0] == "401 Unauthorized"


def test_no_file_protects_nothing() -> None:
    config = web_config.load("")
    assert config.tls() is None
    assert config.protect(_app) is _app


def test_an_empty_file_protects_nothing(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text("")
    assert web_config.load(str(path)) == web_config.WebConfig()


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match=r"cannot read web config .*missing"):
        web_config.load(str(tmp_path / "missing.yml"))
