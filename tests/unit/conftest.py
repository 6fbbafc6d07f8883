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

"""A real unix datagram socket standing in for the daemon's."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
import json
from pathlib import Path
import socket
from typing import Any

import pytest

from oslo_metrics_middleware import MetricsMiddleware
from oslo_metrics_middleware import protocol

# One request, as a sender is given it and as the daemon reads it.
SAMPLE = protocol.sample("compute", "GET", "/v2.1/servers/{id}", 200, 0.01, 0, 10)
ROW = ["compute", "GET", "/v2.1/servers/{id}", 200, 0.01, 0, 10, None]
# A submit with this clock never flushes inline.
NO_INLINE = 0


class DatagramSink:
    """Binds the socket path the filter sends to and decodes what arrives.

    ``wait`` is how long messages() waits for one more datagram: a filter's
    flusher thread sends a little later; a sender flushed by hand, at once.
    """

    def __init__(self, path: Path, wait: float = 0.2) -> None:
        self.path = path
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(path))
        self.socket.settimeout(wait)

    def messages(self) -> list[dict[str, Any]]:
        received = []
        while True:
            try:
                received.append(json.loads(self.socket.recv(65536)))
            except (TimeoutError, BlockingIOError):
                return received

    def close(self) -> None:
        self.socket.close()
        self.path.unlink(missing_ok=True)


def rows(messages: list[dict[str, Any]]) -> list[list[Any]]:
    """Request rows of the batch datagrams among ``messages``."""
    found: list[list[Any]] = []
    for message in messages:
        if message["name"] == "batch":
            found.extend(protocol.rows_of(message["action"]["value"]))
    return found


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[DatagramSink]:
    receiver = DatagramSink(tmp_path / "daemon.sock")
    yield receiver
    receiver.close()


def make_filter(
    app: Callable[..., Iterable[bytes]], sink: DatagramSink, **options: str
) -> MetricsMiddleware:
    # No grace at exit: the sinks are gone by the time the tests end.
    conf = {
        "service_name": "compute",
        "metrics_socket_file": str(sink.path),
        "exit_grace_period": "0",
    }
    conf.update(options)
    return MetricsMiddleware(app, conf)
