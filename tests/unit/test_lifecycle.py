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

"""One sender per socket and process, and uWSGI's flush timer.

Forks, exits and multiprocessing children are run for real in
tests/functional/test_leaving.py and test_uwsgi.py.
"""

from __future__ import annotations

from collections.abc import Callable
import logging
import multiprocessing
from pathlib import Path
import subprocess
import sys
import time
import types
from typing import Any

import pytest

from oslo_metrics_middleware import lifecycle
from oslo_metrics_middleware import transport
from tests.unit.conftest import NO_INLINE
from tests.unit.conftest import ROW
from tests.unit.conftest import SAMPLE
from tests.unit.conftest import DatagramSink
from tests.unit.conftest import rows

REPO = Path(__file__).resolve().parents[2]


def test_filters_of_a_process_share_the_sender_of_a_socket(
    sink: DatagramSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "_senders", {})
    monkeypatch.setattr(transport.DatagramSender, "_start_thread", lambda self: None)
    first = lifecycle.get_sender(str(sink.path), 100, 60.0)
    assert lifecycle.get_sender(str(sink.path), 5, 1.0) is first
    other = lifecycle.get_sender(str(sink.path) + "-other", 100, 60.0)
    assert other is not first
    first.submit(SAMPLE, NO_INLINE)
    assert lifecycle.flush(timeout=0) == 0
    assert rows(sink.messages()) == [ROW]


class FakeUwsgi(types.ModuleType):
    """The parts of the ``uwsgi`` module lifecycle.py uses."""

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
    monkeypatch.setattr(lifecycle, "_uwsgi_signal", None)
    monkeypatch.setattr(lifecycle, "_senders", {})

    def install(**kwargs: Any) -> FakeUwsgi:
        module = FakeUwsgi(**kwargs)
        monkeypatch.setitem(sys.modules, "uwsgi", module)
        return module

    return install


def test_uwsgi_timer_flushes_every_worker(
    fake_uwsgi: Callable[..., FakeUwsgi],
    sink: DatagramSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uwsgi = fake_uwsgi(taken=(255,))
    monkeypatch.setattr(
        transport.DatagramSender, "_start_thread", lambda self: None
    )
    sender = lifecycle.get_sender(str(sink.path), 100, 60.0)
    lifecycle.get_sender(str(sink.path), 100, 60.0)
    assert uwsgi.timers == [(254, 1)]
    assert list(uwsgi.handlers) == [254]
    target, handler = uwsgi.handlers[254]
    assert target == "workers"
    sender.submit(SAMPLE, NO_INLINE)
    handler(254)
    assert rows(sink.messages()) == [ROW]


def test_no_uwsgi_timer_when_loaded_in_a_worker(
    fake_uwsgi: Callable[..., FakeUwsgi], sink: DatagramSink
) -> None:
    uwsgi = fake_uwsgi(worker_id=1)
    lifecycle.get_sender(str(sink.path), 100, 60.0)
    assert uwsgi.timers == []
    assert uwsgi.handlers == {}


def test_no_uwsgi_timer_outside_uwsgi(
    fake_uwsgi: Callable[..., FakeUwsgi],
    monkeypatch: pytest.MonkeyPatch,
    sink: DatagramSink,
) -> None:
    monkeypatch.setitem(sys.modules, "uwsgi", None)  # import fails
    lifecycle.get_sender(str(sink.path), 100, 60.0)
    assert lifecycle._uwsgi_signal is None


def test_flush_without_senders_of_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lifecycle, "_senders", {})
    assert lifecycle.flush() == 0


@pytest.fixture
def down_sender(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> transport.DatagramSender:
    """The one sender of the process, its collector down, grace 0.5 s."""
    monkeypatch.setattr(lifecycle, "_senders", {})
    monkeypatch.setattr(transport.DatagramSender, "_start_thread", lambda self: None)
    return lifecycle.get_sender(str(tmp_path / "down.sock"), 100, 60.0, 0.5)


def _timed_flush(timeout: float | None) -> tuple[int, float]:
    started = time.monotonic()
    lost = lifecycle.flush(timeout)
    return lost, time.monotonic() - started


def test_flush_gives_up_when_told(down_sender: transport.DatagramSender) -> None:
    down_sender.submit(SAMPLE, NO_INLINE)
    lost, took = _timed_flush(0)
    assert lost == 1
    assert took < 0.4  # well short of the grace period


def test_flush_waits_the_grace_period_by_default(
    down_sender: transport.DatagramSender,
) -> None:
    down_sender.submit(SAMPLE, NO_INLINE)
    lost, took = _timed_flush(None)
    assert lost == 1
    assert 0.5 <= took < 0.9


def test_a_multiprocessing_child_delivers_from_its_finalizers(
    sink: DatagramSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Such a child ends with os._exit, skipping atexit."""
    monkeypatch.setattr(lifecycle, "_senders", {})
    sender = lifecycle.get_sender(str(sink.path), 100, 60.0, 2.0)
    child = multiprocessing.get_context("fork").Process(
        target=sender.submit, args=(SAMPLE, NO_INLINE)
    )
    child.start()
    child.join(10)
    assert child.exitcode == 0
    assert rows(sink.messages()) == [ROW]


# A worker that imports multiprocessing only after its filter was built.
LATE_MULTIPROCESSING = """
import sys
from oslo_metrics_middleware import lifecycle
from tests.unit.conftest import NO_INLINE, SAMPLE

sender = lifecycle.get_sender(sys.argv[1], 100, 60.0, 2.0)
assert "multiprocessing" not in sys.modules, "loaded with the filter"
import multiprocessing

child = multiprocessing.get_context("fork").Process(
    target=sender.submit, args=(SAMPLE, NO_INLINE)
)
child.start()
child.join(10)
sys.exit(child.exitcode)
"""


def test_multiprocessing_is_not_loaded_but_its_children_deliver(
    sink: DatagramSink,
) -> None:
    """The fork hooks find multiprocessing when a process has loaded it."""
    done = subprocess.run(
        [sys.executable, "-c", LATE_MULTIPROCESSING, str(sink.path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert rows(sink.messages()) == [ROW]


def test_one_uwsgi_timer_for_every_socket(
    fake_uwsgi: Callable[..., FakeUwsgi], sink: DatagramSink
) -> None:
    uwsgi = fake_uwsgi()
    lifecycle.get_sender(str(sink.path), 100, 60.0)
    lifecycle.get_sender(str(sink.path) + "-other", 100, 60.0)
    assert uwsgi.timers == [(255, 1)]


def test_uwsgi_timer_refusals_are_said(
    fake_uwsgi: Callable[..., FakeUwsgi],
    sink: DatagramSink,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(signum: int, seconds: int) -> None:
        raise RuntimeError("no timers here")

    with caplog.at_level(logging.DEBUG, logger=lifecycle.__name__):
        fake_uwsgi(worker_id=1)
        lifecycle.get_sender(str(sink.path) + "-1", 100, 60.0)
        fake_uwsgi(taken=tuple(range(1, 256)))
        lifecycle.get_sender(str(sink.path) + "-2", 100, 60.0)
        monkeypatch.setattr(fake_uwsgi(), "add_timer", broken)
        lifecycle.get_sender(str(sink.path) + "-3", 100, 60.0)
    said = [
        (record.levelname, record.getMessage(), record.exc_info not in (None, False))
        for record in caplog.records
    ]
    assert said == [
        ("DEBUG", "No uWSGI flush timer: not loaded in the master", False),
        ("WARNING", "No free uWSGI signal for the metrics flush timer", False),
        ("WARNING", "Metrics flush timer not installed", True),
    ]
    assert lifecycle._uwsgi_signal is None
