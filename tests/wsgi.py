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

"""Plain WSGI calls for tests: an environ, and serving it as a server would."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
import io
from typing import Any


def environ(
    method: str = "GET", path: str = "/", body: bytes = b"", **extra: Any
) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
    }
    if body:
        env["CONTENT_LENGTH"] = str(len(body))
    env.update(extra)
    return env


def call(app: Callable[..., Iterable[bytes]], env: dict[str, Any]) -> tuple[str, bytes]:
    """Serve ``env`` as a WSGI server would: iterate, then close."""
    seen: dict[str, str] = {}

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        seen["status"] = status
        return lambda data: None

    result = app(env, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return seen["status"], body
