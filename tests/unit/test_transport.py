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

"""The datagram sender: holding, dropping, forks it did not see."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import errno
import json
from pathlib import Path
from typing import Any

import pytest

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware import transport
from tests.unit.conftest import NO_INLINE
from tests.unit.conftest import ROW
from tests.unit.conftest import SAMPLE
from tests.unit.conftest import DatagramSink
from tests.unit.conftest import rows


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
def receiver(path: Path) -> Iterator[DatagramSink]:
    sink = DatagramSink(path, wait=0)
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
    receiver: DatagramSink,
) -> None:
    sender = make_sender()
    for _ in range(3):
        sender.submit(SAMPLE, NO_INLINE)
    assert receiver.messages() == []
    sender.flush()
    messages = receiver.messages()
    assert len(messages) == 1
    assert rows(messages) == [ROW] * 3
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
    sink = DatagramSink(path, wait=0)
    try:
        sender.flush()
        assert rows(sink.messages()) == [ROW] * 5
    finally:
        sink.close()
    assert sender.held == 0


def test_holds_while_nobody_reads_a_stale_socket(
    make_sender: Callable[..., transport.DatagramSender], path: Path
) -> None:
    stale = DatagramSink(path, wait=0)
    stale.socket.close()  # the file stays: ECONNREFUSED
    sender = make_sender()
    sender.submit(SAMPLE, NO_INLINE)
    sender.flush()
    assert sender.held == 1
    path.unlink()
    sink = DatagramSink(path, wait=0)
    try:
        sender.flush()
        assert rows(sink.messages()) == [ROW]
    finally:
        sink.close()


def test_full_kernel_queue_holds_without_dropping(
    make_sender: Callable[..., transport.DatagramSender],
    receiver: DatagramSink,
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
    assert rows(receiver.messages()) == [ROW]
    assert sender.delivered == batches
    assert _increments(receiver.messages()) == {}


def test_drop_counts_reach_a_collector_that_stays_behind(
    make_sender: Callable[..., transport.DatagramSender],
    receiver: DatagramSink,
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
    sink = DatagramSink(path, wait=0)
    try:
        sender.flush()
        messages = sink.messages()
    finally:
        sink.close()
    assert rows(messages) == [ROW] * 4
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
    receiver: DatagramSink,
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
    assert rows(receiver.messages()) == [ROW]
    assert sender._pid == parent_pid + 1


def test_send_error_drops_and_counts(
    make_sender: Callable[..., transport.DatagramSender],
    receiver: DatagramSink,
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
