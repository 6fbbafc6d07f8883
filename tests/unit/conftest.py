"""A real unix datagram socket standing in for the daemon's."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
import io
import json
from pathlib import Path
import socket
from typing import Any

import pytest

from oslo_metrics_middleware import MetricsMiddleware


class DatagramSink:
    """Binds the socket path the filter sends to and decodes what arrives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(path))
        self.socket.settimeout(0.2)

    def messages(self) -> list[dict[str, Any]]:
        received = []
        while True:
            try:
                received.append(json.loads(self.socket.recv(65536)))
            except TimeoutError:
                return received

    def close(self) -> None:
        self.socket.close()


def rows(messages: list[dict[str, Any]]) -> list[list[Any]]:
    """Request rows of the batch datagrams among ``messages``."""
    found: list[list[Any]] = []
    for message in messages:
        if message["name"] == "batch":
            found.extend(message["action"]["value"]["rows"])
    return found


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[DatagramSink]:
    receiver = DatagramSink(tmp_path / "daemon.sock")
    yield receiver
    receiver.close()


def make_filter(
    app: Callable[..., Iterable[bytes]], sink: DatagramSink, **options: str
) -> MetricsMiddleware:
    conf = {"service_name": "compute", "metrics_socket_file": str(sink.path)}
    conf.update(options)
    return MetricsMiddleware(app, conf)


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
