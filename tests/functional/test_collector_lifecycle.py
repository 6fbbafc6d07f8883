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

"""Readiness and stopping of the real collector process.

Stops are waited for with a generous timeout (the machine may be loaded);
the collector itself stops at once: signals wake its loop through a pipe.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
from pathlib import Path
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import collectors
from tests.functional import servers

STOP_SIGNALS = [signal.SIGTERM, signal.SIGINT]


def _stop(collector: CollectorProcess, signum: int) -> subprocess.Popen[bytes]:
    """Send ``signum`` and wait for the exit; the process, for its status."""
    process = collector.process
    assert process is not None
    process.send_signal(signum)
    try:
        process.wait(collectors.WAIT)
    finally:
        collector.stop()  # SIGKILL, should it still run
    return process


def _clean_log(collector: CollectorProcess) -> list[str]:
    lines = collector.log().splitlines()
    assert "Traceback" not in collector.log()
    assert lines[-1].endswith("Collector stopped"), lines
    return lines


@pytest.mark.parametrize("signum", STOP_SIGNALS)
def test_idle_stop_removes_its_socket(tmp_path: Path, signum: int) -> None:
    collector = CollectorProcess(workdir=tmp_path)
    collector.start()
    assert _stop(collector, signum).returncode == 0
    assert len(_clean_log(collector)) == 2  # ready, stopped
    assert not collector.socket_path.exists()


@pytest.mark.parametrize("signum", STOP_SIGNALS)
def test_stop_after_socket_file_was_removed(tmp_path: Path, signum: int) -> None:
    collector = CollectorProcess(workdir=tmp_path)
    collector.start()
    collector.socket_path.unlink()
    assert _stop(collector, signum).returncode == 0
    _clean_log(collector)
    assert not collector.socket_path.exists()


def test_stop_leaves_a_file_that_replaced_its_socket(tmp_path: Path) -> None:
    collector = CollectorProcess(workdir=tmp_path)
    collector.start()
    collector.socket_path.unlink()
    collector.socket_path.write_text("someone else's\n")
    assert _stop(collector, signal.SIGTERM).returncode == 0
    _clean_log(collector)
    assert collector.socket_path.read_text() == "someone else's\n"


@contextlib.contextmanager
def _flood(path: Path) -> Iterator[list[int]]:
    """Datagrams sent without pause from a thread until the block ends."""
    sent = [0]
    done = threading.Event()
    datagram = collectors.batch([collectors.row()] * 50)

    def run() -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.settimeout(0.5)
            while not done.is_set():
                try:
                    sender.sendto(datagram, str(path))
                except OSError:
                    continue  # busy, or gone once the collector stopped
                sent[0] += 1

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield sent
    finally:
        done.set()
        thread.join(collectors.WAIT)


@pytest.mark.parametrize("signum", STOP_SIGNALS)
def test_stop_under_a_datagram_flood(tmp_path: Path, signum: int) -> None:
    collector = CollectorProcess(workdir=tmp_path)
    collector.start()
    with _flood(collector.socket_path) as sent:
        collectors.wait_datagrams(collector, 20)
        assert _stop(collector, signum).returncode == 0
    assert sent[0] >= 20
    _clean_log(collector)
    assert not collector.socket_path.exists()


def test_stop_with_a_silent_client_connected(tmp_path: Path) -> None:
    collector = CollectorProcess(workdir=tmp_path)
    collector.start()
    with socket.create_connection(("127.0.0.1", collector.port)):
        time.sleep(0.2)  # let the collector accept it and start waiting
        assert _stop(collector, signal.SIGTERM).returncode == 0
    _clean_log(collector)


def test_stop_during_start_up_leaves_nothing(tmp_path: Path) -> None:
    collector = CollectorProcess(workdir=tmp_path)
    process = collector.launch()
    time.sleep(0.3)  # somewhere in imports, configuration or binding
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(collectors.WAIT)
    finally:
        collector.stop()
    # Before its handler is installed the default action ends it.
    assert process.returncode in (0, -signal.SIGTERM)
    assert "Traceback" not in collector.log()
    assert not collector.socket_path.exists()


@pytest.mark.parametrize("abstract", [False, True])
def test_ready_only_once_socket_and_port_are_live(
    tmp_path: Path, abstract: bool
) -> None:
    """sd_notify READY=1 comes after both endpoints answer, then STOPPING=1."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        if abstract:
            # The abstract namespace is host-wide: unique per test run.
            address = f"@oslo-metrics-test-{os.getpid()}-{tmp_path.name}"
            systemd.bind("\0" + address[1:])
        else:
            address = str(tmp_path / "notify.sock")
            systemd.bind(address)
        systemd.settimeout(collectors.WAIT)
        collector = CollectorProcess(workdir=tmp_path, env=_with(NOTIFY_SOCKET=address))
        collector.launch()
        assert systemd.recv(4096) == b"READY=1"
        # Both are live the moment readiness is reported.
        collectors.send(collector.socket_path, collectors.batch([collectors.row()]))
        with urllib.request.urlopen(collector.metrics_url, timeout=10) as page:
            assert page.status == 200
        assert servers.requests_counted(collectors.wait_datagrams(collector, 1)) == 1
        assert collector.log().splitlines()[0].endswith(
            f"Collector ready: socket {collector.socket_path}, metrics on "
            f"http://127.0.0.1:{collector.port}/metrics"
        )
        assert _stop(collector, signal.SIGTERM).returncode == 0
        assert systemd.recv(4096) == b"STOPPING=1"
    _clean_log(collector)


def _with(**variables: str) -> dict[str, str]:
    return {**os.environ, **variables}


def test_serves_on_ipv6_loopback(tmp_path: Path) -> None:
    with CollectorProcess(workdir=tmp_path, host="::1") as collector:
        collectors.send(collector.socket_path, collectors.batch([collectors.row()]))
        series = collectors.wait_datagrams(collector, 1)
        assert servers.requests_counted(series) == 1
        assert collector.log().splitlines()[0].endswith(
            f"metrics on http://[::1]:{collector.port}/metrics"
        )


def test_sighup_is_logged_and_ignored(tmp_path: Path) -> None:
    collector = CollectorProcess(workdir=tmp_path)
    collector.start()
    assert collector.process is not None
    deadline = time.monotonic() + collectors.WAIT
    for sent in (1, 2):  # one at a time: pending signals merge
        collector.process.send_signal(signal.SIGHUP)
        while collector.log().count("SIGHUP ignored") < sent:
            assert time.monotonic() < deadline, collector.log()
            time.sleep(0.05)
    # Still running, on the same socket.
    collectors.send(collector.socket_path, collectors.batch([collectors.row()]))
    assert servers.requests_counted(collectors.wait_datagrams(collector, 1)) == 1
    assert _stop(collector, signal.SIGTERM).returncode == 0
    lines = _clean_log(collector)
    assert [line.split(" - ")[-1].split("] ")[-1] for line in lines[1:3]] == [
        "SIGHUP ignored: the configuration is read at start only; restart "
        "the collector to apply a change",
    ] * 2
    assert len(lines) == 4
    assert not collector.socket_path.exists()
