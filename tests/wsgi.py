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
