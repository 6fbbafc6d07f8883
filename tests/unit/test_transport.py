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
import logging
import os
from pathlib import Path
import time
from typing import Any

import pytest

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware import socket_trust
from oslo_metrics_middleware import spool
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

    def make(
        buffer_size: int = 100, exit_grace_period: float = 0.0
    ) -> transport.DatagramSender:
        return transport.DatagramSender(
            str(path), buffer_size, 60.0, exit_grace_period
        )

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


def test_untrusted_socket_drops_add_up_over_rounds(
    make_sender: Callable[..., transport.DatagramSender],
    receiver: DatagramSink,
    path: Path,
) -> None:
    """Each round refused by the socket's owner adds to the one count,
    sent once the socket is trusted again."""
    os.chown(path, 54321, 54321)
    sender = make_sender()
    for samples in (3, 2):
        for _ in range(samples):
            sender.submit(SAMPLE, NO_INLINE)
        sender.flush()
    assert receiver.messages() == []
    os.chown(path, 0, 0)
    sender.flush()
    assert _increments(receiver.messages()) == {_key("", "untrusted_socket"): 5}
    assert sender.held == 0


def test_inline_flush_without_a_flusher_thread(
    make_sender: Callable[..., transport.DatagramSender],
    receiver: DatagramSink,
) -> None:
    """No thread runs (uWSGI without threads): a request past the inline
    deadline delivers what is queued itself."""
    sender = make_sender()
    sender.submit(SAMPLE, NO_INLINE)
    assert receiver.messages() == []
    deadline = sender._inline_deadline
    sender.submit(SAMPLE, deadline - 1)
    assert receiver.messages() == []
    sender.submit(SAMPLE, deadline)
    assert rows(receiver.messages()) == [ROW] * 3
    assert sender.held == 0
    # The next inline flush is a few intervals away again.
    assert sender._inline_deadline > deadline


def _spooled(path: Path) -> list[dict[str, Any]]:
    """The messages of every file in the spool of the socket at ``path``."""
    directory = Path(spool.directory_of(str(path)))
    return [
        json.loads(line)
        for file in sorted(directory.glob(f"*{spool.READY_SUFFIX}"))
        for line in file.read_bytes().splitlines()
    ]


@pytest.fixture
def spool_directory(path: Path) -> Path:
    directory = Path(spool.directory_of(str(path)))
    directory.mkdir(mode=0o2770)
    return directory


def _leave_while_down(
    sender: transport.DatagramSender, samples: list[protocol.Sample]
) -> int:
    for sample in samples:
        sender.submit(sample, NO_INLINE)
    sender.flush()  # no collector: held
    return sender.leave(0)


def test_leaving_while_the_collector_is_away_spools_everything(
    make_sender: Callable[..., transport.DatagramSender],
    path: Path,
    spool_directory: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = make_sender(buffer_size=3)
    other = protocol.sample("image", "GET", "/v2/images", 200, 0.01, 0, 10)
    with caplog.at_level(logging.INFO):
        assert _leave_while_down(sender, [SAMPLE, other, SAMPLE, other]) == 3
    messages = _spooled(path)
    # The count held back by the outage first, then the samples.
    assert _increments(messages) == {_key("image", "buffer_full"): 1}
    assert rows(messages) == [ROW, rows_of(other), ROW]
    assert sender.held == 0
    assert [record.getMessage() for record in caplog.records] == [
        f"Metrics collector at {path} unreachable (No such file or directory); "
        "holding up to 3 samples",
        f"3 metric samples kept in {spool_directory} for the collector (not "
        f"reachable at {path} for 0.0 s)",
    ]
    # Nothing is left to spool twice.
    assert sender.leave(0) == 0
    assert len(list(spool_directory.iterdir())) == 1


def test_a_full_spool_takes_the_count_of_exit_drops(
    make_sender: Callable[..., transport.DatagramSender],
    path: Path,
    spool_directory: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with open(spool_directory / "filler.part", "wb") as filler:
        filler.truncate(spool.DATA_BYTES)
    sender = make_sender(buffer_size=4)
    other = protocol.sample("image", "GET", "/v2/images", 200, 0.01, 0, 10)
    with caplog.at_level(logging.WARNING):
        lost = _leave_while_down(sender, [SAMPLE, other, SAMPLE, SAMPLE, other])
    assert lost == 4
    messages = _spooled(path)
    assert rows(messages) == []
    assert _increments(messages) == {
        _key("compute", "exit"): 3,
        _key("image", "exit"): 1,
        _key("image", "buffer_full"): 1,
    }
    assert caplog.records[-1].getMessage() == (
        f"4 metric samples not delivered to {path} before exit (collector "
        f"down; waited 0.0 s); counted as dropped in {spool_directory}"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
@pytest.mark.parametrize(
    ("owner", "group", "refusal"),
    [
        (54321, 0, "it is owned by uid 54321, not 54322 or root"),
        (54322, 54321, "its group is gid 54321, not 54322"),
    ],
    ids=["owner", "group"],
)
def test_a_spool_the_socket_would_not_be_trusted_in_gets_nothing(
    make_sender: Callable[..., transport.DatagramSender],
    path: Path,
    spool_directory: Path,
    caplog: pytest.LogCaptureFixture,
    owner: int,
    group: int,
    refusal: str,
) -> None:
    """The spool is checked as the socket is: a directory another user
    owns (who would read the request ids in it) takes nothing."""
    os.chown(spool_directory, owner, group)
    sender = make_sender()
    sender.trust = socket_trust.SocketTrust(str(path), "54322", "54322")
    with caplog.at_level(logging.WARNING):
        assert _leave_while_down(sender, [SAMPLE, SAMPLE]) == 2
    assert list(spool_directory.iterdir()) == []
    assert caplog.records[-1].getMessage() == (
        f"2 metric samples not delivered to {path} before exit (collector "
        f"down or behind; waited 0.0 s; spool {spool_directory} refused: "
        f"{refusal})"
    )


def test_no_spool_sends_exit_drops_to_a_collector_that_is_behind(
    make_sender: Callable[..., transport.DatagramSender],
    receiver: DatagramSink,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = make_sender()
    real_send = sender._send

    def behind(datagram: bytes) -> int | None:
        # Room for a counter's few bytes, none for a batch.
        if b'"batch"' in datagram:
            return errno.EAGAIN
        return real_send(datagram)

    monkeypatch.setattr(sender, "_send", behind)
    sender.submit(SAMPLE, NO_INLINE)
    sender.submit(SAMPLE, NO_INLINE)
    with caplog.at_level(logging.WARNING):
        assert sender.leave(0) == 2
    assert _increments(receiver.messages()) == {_key("compute", "exit"): 2}
    assert sender.held == 0
    assert caplog.records[-1].getMessage().startswith(
        f"2 metric samples not delivered to {receiver.path} before exit "
        "(collector down or behind; waited 0.0 s; no spool at "
    )


def _key(service: str, reason: str) -> str:
    return json.dumps(
        [transport.DROPPED, {"reason": reason, "service": service}],
        sort_keys=True,
    )


def rows_of(sample: protocol.Sample) -> list[Any]:
    return [*sample[:3], sample[3], sample[7] / protocol.MICROSECONDS,
            sample[8], sample[9], sample[4]]


def test_leaving_with_only_counts_spools_them(
    make_sender: Callable[..., transport.DatagramSender],
    path: Path,
    spool_directory: Path,
) -> None:
    """Nothing held, but a count not sent yet: it is not lost either."""
    sender = make_sender()
    sender.count(transport.ROUTE_OVERFLOW, "compute")
    sender.count(transport.ROUTE_OVERFLOW, "compute")
    assert sender.leave(0) == 0
    assert _spooled(path) == [{
        "module": protocol.MODULE,
        "name": transport.ROUTE_OVERFLOW,
        "action": {"action": "inc", "value": 2},
        "labels": {"service": "compute"},
    }]


def test_leaving_with_nothing_writes_nothing(
    make_sender: Callable[..., transport.DatagramSender],
    spool_directory: Path,
) -> None:
    assert make_sender().leave(0) == 0
    assert list(spool_directory.iterdir()) == []


@pytest.mark.parametrize(("timeout", "waited"), [(None, 0.5), (0.0, 0.0)])
def test_leave_waits_its_grace_period_unless_told(
    make_sender: Callable[..., transport.DatagramSender],
    caplog: pytest.LogCaptureFixture,
    timeout: float | None,
    waited: float,
) -> None:
    sender = make_sender(10, exit_grace_period=0.5)
    sender.submit(SAMPLE, NO_INLINE)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        assert sender.leave(timeout) == 1
    took = time.monotonic() - started
    # Well short of the grace period when told not to wait.
    assert waited <= took < waited + 0.4
    assert f"waited {waited:.1f} s" in caplog.records[-1].getMessage()


def test_leave_delivers_at_once_to_a_collector_that_reads(
    make_sender: Callable[..., transport.DatagramSender], receiver: DatagramSink
) -> None:
    sender = make_sender(10, exit_grace_period=0.5)
    sender.submit(SAMPLE, NO_INLINE)
    started = time.monotonic()
    assert sender.leave() == 0
    # Done once delivered, not at the end of the grace period.
    assert time.monotonic() - started < 0.4
    assert rows(receiver.messages()) == [ROW]


def test_leave_while_the_flusher_is_in_a_round_waits_no_longer_than_told(
    make_sender: Callable[..., transport.DatagramSender],
    path: Path,
    spool_directory: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = make_sender()
    sender.submit(SAMPLE, NO_INLINE)
    sender._flush_lock.acquire()  # a round that never ends
    started = time.monotonic()
    with caplog.at_level(logging.INFO):
        assert sender.leave(0) == 1
    assert time.monotonic() - started < 0.5
    assert rows(_spooled(path)) == [ROW]
    assert caplog.records[-1].getMessage().endswith("for 0.0 s)")


def test_exit_drops_add_up_over_two_leavings(
    make_sender: Callable[..., transport.DatagramSender], path: Path
) -> None:
    """A first leaving with nowhere to go keeps its count; a second one
    (flush() before os._exit, then atexit) adds to it."""
    sender = make_sender()
    sender.submit(SAMPLE, NO_INLINE)
    assert sender.leave(0) == 1
    sender.submit(SAMPLE, NO_INLINE)
    Path(spool.directory_of(str(path))).mkdir(mode=0o2770)
    with open(f"{spool.directory_of(str(path))}/filler.part", "wb") as filler:
        filler.truncate(spool.DATA_BYTES)
    assert sender.leave(0) == 1
    assert _increments(_spooled(path)) == {_key("compute", "exit"): 2}


@pytest.fixture
def flusher(path: Path) -> Iterator[transport.DatagramSender]:
    """A sender with its real flusher thread, stopped after the test."""
    sender = transport.DatagramSender(str(path), 1000, 0.05)
    yield sender
    sender._pid = -1  # the thread's loop ends at its next wake-up
    sender._wakeup.set()
    if sender._thread is not None:
        sender._thread.join(2)


def test_the_flusher_thread_delivers_without_being_asked(
    flusher: transport.DatagramSender, receiver: DatagramSink
) -> None:
    flusher.submit(SAMPLE, NO_INLINE)
    thread = flusher._thread
    flusher.submit(SAMPLE, NO_INLINE)
    assert flusher._thread is thread  # one thread, started once
    assert thread is not None and thread.name == "metrics-flusher"
    assert thread.daemon  # never holds up the end of the process
    deadline = time.monotonic() + 2
    while flusher.delivered < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rows(receiver.messages()) == [ROW] * 2


def test_a_flusher_that_cannot_start_is_said_in_debug(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def shutting_down(thread: object) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(transport.threading.Thread, "start", shutting_down)
    sender = transport.DatagramSender("/nonexistent/metrics.sock", 10, 60.0)
    with caplog.at_level(logging.DEBUG, logger=transport.__name__):
        sender.submit(SAMPLE, NO_INLINE)
    [record] = caplog.records
    assert record.getMessage() == "Metrics flusher not started"
    assert record.exc_info and record.exc_info[0] is RuntimeError
    assert sender.held == 1


def test_socket_paths_that_can_never_work(tmp_path: Path) -> None:
    def refused(path: str) -> str:
        with pytest.raises(ValueError) as raised:
            transport.check_socket_path(path)
        return str(raised.value)

    (tmp_path / "file").write_text("")
    longest = str(tmp_path) + "/" + "s" * (
        transport.MAX_SOCKET_PATH - len(str(tmp_path)) - 1
    )
    assert refused("") == "the path is empty"
    assert refused(longest + "s") == (
        f"the path is longer than the {transport.MAX_SOCKET_PATH} bytes a "
        "unix socket address holds"
    )
    assert refused(str(tmp_path / "file" / "s.sock")) == (
        "a component of the path is not a directory"
    )
    assert refused(str(tmp_path)) == "the path is a directory"
    assert transport.check_socket_path(longest) is None


def test_socket_paths_that_cannot_work_yet(path: Path, tmp_path: Path) -> None:
    assert transport.check_socket_path(str(path)) is None
    assert transport.check_socket_path(str(tmp_path / "no" / "s.sock")) == (
        f"its directory {tmp_path / 'no'} does not exist (yet)"
    )
    path.write_text("")
    assert transport.check_socket_path(str(path)) == "it is not a socket (yet)"
    path.unlink()
    sink = DatagramSink(path)
    try:
        assert transport.check_socket_path(str(path)) is None
    finally:
        sink.close()


@pytest.mark.parametrize(("buffer_size", "wake_at"), [(5, 1), (13, 3)])
def test_a_burst_of_a_quarter_buffer_wakes_the_flusher(
    path: Path, receiver: DatagramSink, buffer_size: int, wake_at: int
) -> None:
    # An interval no test waits for: only a burst wakes it.
    sender = transport.DatagramSender(str(path), buffer_size, 600.0)
    try:
        for _ in range(wake_at - 1):
            sender.submit(SAMPLE, NO_INLINE)
        time.sleep(0.3)
        assert sender.delivered == 0
        sender.submit(SAMPLE, NO_INLINE)
        deadline = time.monotonic() + 2
        while sender.delivered < wake_at and time.monotonic() < deadline:
            time.sleep(0.01)
        assert rows(receiver.messages()) == [ROW] * wake_at
    finally:
        sender._pid = -1
        sender._wakeup.set()


def test_flush_never_waits_for_a_round_in_progress(
    make_sender: Callable[..., transport.DatagramSender],
    receiver: DatagramSink,
) -> None:
    sender = make_sender()
    sender.submit(SAMPLE, NO_INLINE)
    with sender._flush_lock:
        sender.flush()  # returns at once; the round in progress delivers
    assert sender.held == 1
    sender.flush()
    assert rows(receiver.messages()) == [ROW]


def test_a_delivery_fault_is_logged_and_never_raised(
    make_sender: Callable[..., transport.DatagramSender],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = make_sender()

    def broken() -> None:
        raise RuntimeError("encoder bug")

    monkeypatch.setattr(sender, "_encode_queue", broken)
    with caplog.at_level(logging.ERROR):
        assert sender._deliver() is False
    [record] = caplog.records
    assert record.getMessage() == "Metrics delivery failed"
    assert record.exc_info and record.exc_info[0] is RuntimeError


def test_a_send_error_without_errno_is_an_io_error(
    make_sender: Callable[..., transport.DatagramSender],
) -> None:
    class Refusing:
        def sendto(self, data: bytes, address: str) -> None:
            raise OSError("no errno")

    sender = make_sender()
    sender._socket = Refusing()  # type: ignore[assignment]
    assert sender._send(b"x") == errno.EIO


def test_the_inline_deadline_is_three_intervals_away(
    make_sender: Callable[..., transport.DatagramSender],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transport.time, "monotonic_ns", lambda: 10**12)
    sender = transport.DatagramSender("/nonexistent/s.sock", 10, 1.0)
    assert sender._inline_deadline == 10**12 + 3_000_000_000


def test_a_send_error_is_logged_with_the_number_and_reason(
    make_sender: Callable[..., transport.DatagramSender],
    receiver: DatagramSink,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = make_sender()
    for _ in range(3):
        sender.submit(SAMPLE, NO_INLINE)
    sender._encode_queue()
    sender.submit(SAMPLE, NO_INLINE)
    sender._encode_queue()
    real_send = sender._send
    failures = iter([errno.EMSGSIZE, errno.EMSGSIZE])
    monkeypatch.setattr(
        sender, "_send", lambda data: next(failures, None) or real_send(data)
    )
    with caplog.at_level(logging.ERROR):
        sender.flush()
    assert [record.getMessage() for record in caplog.records] == [
        "Dropped 3 metric samples: Message too long",
        "Dropped 1 metric samples: Message too long",
    ]
    # Both drops add up in the one count.
    assert _increments(receiver.messages()) == {_key("", "send_error"): 4}


def test_leave_keeps_trying_a_collector_that_is_behind(
    make_sender: Callable[..., transport.DatagramSender],
    receiver: DatagramSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sender = make_sender()
    real_send = sender._send
    busy = iter([errno.EAGAIN, errno.EAGAIN])
    monkeypatch.setattr(
        sender, "_send", lambda data: next(busy, None) or real_send(data)
    )
    sender.submit(SAMPLE, NO_INLINE)
    assert sender.leave(5.0) == 0
    assert rows(receiver.messages()) == [ROW]


def test_a_count_added_while_counts_are_sent_is_kept(
    make_sender: Callable[..., transport.DatagramSender],
    receiver: DatagramSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sender = make_sender()
    sender.count(transport.ROUTE_OVERFLOW, "compute")
    real_send = sender._send

    def racing(data: bytes) -> int | None:
        # A request on another thread counts one more meanwhile.
        monkeypatch.setattr(sender, "_send", real_send)
        sender.count(transport.ROUTE_OVERFLOW, "compute")
        return real_send(data)

    monkeypatch.setattr(sender, "_send", racing)
    sender.flush()
    sender.flush()
    values = [
        message["action"]["value"] for message in receiver.messages()
        if message["name"] == transport.ROUTE_OVERFLOW
    ]
    assert values == [1, 1]
