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

"""The datagram sender: holding, dropping, forks it did not see, uWSGI."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import errno
import json
from pathlib import Path
import socket
import sys
import types
from typing import Any

import pytest

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware import transport

SAMPLE = protocol.sample("compute", "GET", "/v2.1/servers/{id}", 200, 0.01, 0, 10)
ROW = ["compute", "GET", "/v2.1/servers/{id}", 200, 0.01, 0, 10, None]
# A submit with this clock never flushes inline.
NO_INLINE = 0


class Receiver:
    """A bound unix datagram socket playing the daemon."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(path))
        self.socket.setblocking(False)

    def messages(self) -> list[dict[str, Any]]:
        received = []
        while True:
            try:
                received.append(json.loads(self.socket.recv(65536)))
            except BlockingIOError:
                return received

    def close(self) -> None:
        self.socket.close()
        self.path.unlink(missing_ok=True)


def _rows(messages: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        row
        for message in messages
        if message["name"] == "batch"
        for row in protocol.rows_of(message["action"]["value"])
    ]


def _increments(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        json.dumps([message["name"], message["labels"]], sort_keys=True):
        message["action"]["value"]
        for message in messages
        if message["action"]["action"] == "inc"
    }


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "daemon.sock"


@pytest.fixture
def receiver(path: Path) -> Iterator[Receiver]:
    sink = Receiver(path)
    yield sink
    sink.close()


@pytest.fixture
def make_sender(
    monkeypatch: pytest.MonkeyPatch, path: Path
) -> Callable[..., transport.DatagramSender]:
    """Senders without a flusher thread: the test flushes by hand."""
    monkeypatch.setattr(
        transport.DatagramSender, "_start_thread", lambda self: None
    )

    def make(buffer_size: int = 100) -> transport.DatagramSender:
        return transport.DatagramSender(str(path), buffer_size, 60.0)

    return make


def test_delivers_queued_samples_in_one_batch(
    make_sender: Callable[..., transport.DatagramSender],
    receiver: Receiver,
) -> None:
    sender = make_sender()
    for _ in range(3):
        sender.submit(SAMPLE, NO_INLINE)
    assert receiver.messages() == []
    sender.flush()
    messages = receiver.messages()
    assert len(messages) == 1
    assert _rows(messages) == [ROW] * 3
    assert sender.delivered == 3
    assert sender.held == 0


def test_holds_while_socket_file_is_missing(
    make_sender: Callable[..., transport.DatagramSender], path: Path
) -> None:
    sender = make_sender()
    for _ in range(5):
        sender.submit(SAMPLE, NO_INLINE)
    sender.flush()
    assert sender.held == 5
    sink = Receiver(path)
    try:
        sender.flush()
        assert _rows(sink.messages()) == [ROW] * 5
    finally:
        sink.close()
    assert sender.held == 0


def test_holds_while_nobody_reads_a_stale_socket(
    make_sender: Callable[..., transport.DatagramSender], path: Path
) -> None:
    stale = Receiver(path)
    stale.socket.close()  # the file stays: ECONNREFUSED
    sender = make_sender()
    sender.submit(SAMPLE, NO_INLINE)
    sender.flush()
    assert sender.held == 1
    path.unlink()
    sink = Receiver(path)
    try:
        sender.flush()
        assert _rows(sink.messages()) == [ROW]
    finally:
        sink.close()


def test_full_kernel_queue_holds_without_dropping(
    make_sender: Callable[..., transport.DatagramSender],
    receiver: Receiver,
) -> None:
    sender = make_sender(buffer_size=1000)
    batches = 0
    # Fill the reader's kernel queue (max_dgram_qlen) until EAGAIN.
    while sender.held == 0 and batches < 1000:
        sender.submit(SAMPLE, NO_INLINE)
        sender.flush()
        batches += 1
    assert sender.held == 1
    assert len(receiver.messages()) == batches - 1
    sender.flush()
    assert _rows(receiver.messages()) == [ROW]
    assert sender.delivered == batches
    assert _increments(receiver.messages()) == {}


def test_drop_counts_reach_a_collector_that_stays_behind(
    make_sender: Callable[..., transport.DatagramSender],
    receiver: Receiver,
) -> None:
    sender = make_sender(buffer_size=3)
    # Fill the reader's kernel queue, then the buffer, then drop two.
    while sender.held == 0:
        sender.submit(SAMPLE, NO_INLINE)
        sender.flush()
    for _ in range(4):
        # One datagram each, so draining them takes several sends.
        sender.submit(SAMPLE, NO_INLINE)
        sender.flush()
    assert sender.held == 3
    # The collector takes one datagram and stays behind.
    receiver.socket.recv(65536)
    sender.flush()
    assert sender.held == 3
    key = json.dumps(
        [transport.DROPPED, {"reason": "buffer_full", "service": "compute"}],
        sort_keys=True,
    )
    assert _increments(receiver.messages()) == {key: 2}


def test_drops_beyond_buffer_and_reports_the_count(
    make_sender: Callable[..., transport.DatagramSender], path: Path
) -> None:
    sender = make_sender(buffer_size=4)
    for _ in range(7):
        sender.submit(SAMPLE, NO_INLINE)
    sender.flush()
    assert sender.held == 4
    sink = Receiver(path)
    try:
        sender.flush()
        messages = sink.messages()
    finally:
        sink.close()
    assert _rows(messages) == [ROW] * 4
    key = json.dumps(
        [transport.DROPPED, {"reason": "buffer_full", "service": "compute"}],
        sort_keys=True,
    )
    assert _increments(messages) == {key: 3}
    # Reported once only.
    sender.flush()
    assert sender.held == 0


def test_unseen_fork_keeps_the_childs_first_sample(
    make_sender: Callable[..., transport.DatagramSender],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uWSGI forks in C: no at-fork hook, the child sees a foreign pid."""
    monkeypatch.setattr(transport, "FORKS_UNSEEN", True)
    sender = make_sender()
    sender.submit(protocol.sample("parent", "GET", "/", 200, 0.01), NO_INLINE)
    parent_pid = sender._pid
    monkeypatch.setattr(transport.os, "getpid", lambda: parent_pid + 1)
    sender.submit(SAMPLE, NO_INLINE)
    sender.flush()
    # The parent's queue is not the child's to send; the child's sample is.
    assert _rows(receiver.messages()) == [ROW]
    assert sender._pid == parent_pid + 1


def test_send_error_drops_and_counts(
    make_sender: Callable[..., transport.DatagramSender],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sender = make_sender()
    sender.submit(SAMPLE, NO_INLINE)
    sender.submit(SAMPLE, NO_INLINE)
    sender._encode_queue()
    real_send = sender._send
    failures = iter([errno.EMSGSIZE])
    monkeypatch.setattr(
        sender, "_send", lambda data: next(failures, None) or real_send(data)
    )
    sender.flush()
    key = json.dumps(
        [transport.DROPPED, {"reason": "send_error", "service": ""}],
        sort_keys=True,
    )
    assert _increments(receiver.messages()) == {key: 2}
    assert sender.held == 0


class FakeUwsgi(types.ModuleType):
    """The parts of the ``uwsgi`` module the transport uses."""

    def __init__(self, worker_id: int = 0, taken: tuple[int, ...] = ()):
        super().__init__("uwsgi")
        self._worker_id = worker_id
        self.taken = set(taken)
        self.handlers: dict[int, tuple[str, Callable[[int], None]]] = {}
        self.timers: list[tuple[int, int]] = []

    def worker_id(self) -> int:
        return self._worker_id

    def masterpid(self) -> int:
        return 1

    def signal_registered(self, signum: int) -> bool:
        return signum in self.taken or signum in self.handlers

    def register_signal(
        self, signum: int, target: str, handler: Callable[[int], None]
    ) -> None:
        self.handlers[signum] = (target, handler)

    def add_timer(self, signum: int, seconds: int) -> None:
        self.timers.append((signum, seconds))


@pytest.fixture
def fake_uwsgi(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeUwsgi]:
    monkeypatch.setattr(transport, "_uwsgi_signal", None)
    monkeypatch.setattr(transport, "_senders", {})

    def install(**kwargs: Any) -> FakeUwsgi:
        module = FakeUwsgi(**kwargs)
        monkeypatch.setitem(sys.modules, "uwsgi", module)
        return module

    return install


def test_uwsgi_timer_flushes_every_worker(
    fake_uwsgi: Callable[..., FakeUwsgi],
    receiver: Receiver,
    path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uwsgi = fake_uwsgi(taken=(255,))
    monkeypatch.setattr(
        transport.DatagramSender, "_start_thread", lambda self: None
    )
    sender = transport.get_sender(str(path), 100, 60.0)
    transport.get_sender(str(path), 100, 60.0)
    assert uwsgi.timers == [(254, 1)]
    assert list(uwsgi.handlers) == [254]
    target, handler = uwsgi.handlers[254]
    assert target == "workers"
    sender.submit(SAMPLE, NO_INLINE)
    handler(254)
    assert _rows(receiver.messages()) == [ROW]


def test_no_uwsgi_timer_when_loaded_in_a_worker(
    fake_uwsgi: Callable[..., FakeUwsgi], path: Path
) -> None:
    uwsgi = fake_uwsgi(worker_id=1)
    transport.get_sender(str(path), 100, 60.0)
    assert uwsgi.timers == []
    assert uwsgi.handlers == {}


def test_no_uwsgi_timer_outside_uwsgi(
    fake_uwsgi: Callable[..., FakeUwsgi],
    monkeypatch: pytest.MonkeyPatch,
    path: Path,
) -> None:
    monkeypatch.setitem(sys.modules, "uwsgi", None)  # import fails
    transport.get_sender(str(path), 100, 60.0)
    assert transport._uwsgi_signal is None
