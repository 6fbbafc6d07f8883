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

"""The real collector's HTTP server stays bounded whatever clients do."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
from pathlib import Path
import resource
import socket
import time

import pytest

from oslo_metrics_middleware.collector import http_server
from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import collectors
from tests.functional import servers

SLOW_CLIENTS = 2000
# Half of the slow clients send part of a request and then nothing.
PARTIAL = b"GET /metrics HTTP/1.1\r\nHost: x\r\n"


@pytest.fixture
def descriptors() -> Iterator[None]:
    """Enough descriptors in this process for every slow client."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = SLOW_CLIENTS + 512
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the hard descriptor limit {hard} is below {needed}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _connect(port: int, count: int) -> list[socket.socket]:
    """``count`` connections started without waiting for the collector."""
    clients = []
    for number in range(count):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", port))
        if number % 2:
            with contextlib.suppress(OSError):
                client.send(PARTIAL)
        clients.append(client)
    return clients


def _closed_by_peer(client: socket.socket, timeout: float) -> bool:
    client.settimeout(timeout)
    try:
        return client.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_slow_clients_leave_scrapes_answering_and_the_collector_idle(
    tmp_path: Path, descriptors: None
) -> None:
    with CollectorProcess(workdir=tmp_path) as collector:
        assert collector.process is not None
        pid = collector.process.pid
        clients = _connect(collector.port, SLOW_CLIENTS)
        try:
            # Every client gets accepted (and most closed for room) first.
            time.sleep(2)
            cpu_before = _cpu_seconds(pid)
            held_from = time.monotonic()
            answered = 0
            most_descriptors = 0
            while time.monotonic() - held_from < 4:
                collectors.send(collector.socket_path,
                                collectors.batch([collectors.row()]))
                answered += 1
                series = collectors.wait_datagrams(collector, answered)
                assert servers.requests_counted(series) == answered
                most_descriptors = max(most_descriptors, _descriptors(pid))
                time.sleep(0.2)
            cpu = _cpu_seconds(pid) - cpu_before
            held = time.monotonic() - held_from
        finally:
            for client in clients:
                client.close()
    assert answered >= 5
    # Idle but for the scrapes themselves (a busy loop would take ~held).
    assert cpu < 0.25 * held, (cpu, held)
    assert most_descriptors <= (
        http_server.MetricsServer.max_connections + http_server.OTHER_DESCRIPTORS
    )


def _trickle(client: socket.socket, data: bytes, seconds: float) -> bool:
    """Send ``data`` a byte every ``seconds``; whether the peer hung up
    before it was all sent."""
    for byte in data:
        try:
            client.send(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return True
        time.sleep(seconds)
    return False


def test_a_client_that_sends_no_request_is_disconnected(tmp_path: Path) -> None:
    options = {"http_timeout": 0.5}
    with CollectorProcess(workdir=tmp_path, options=options) as collector:
        silent = socket.create_connection(("127.0.0.1", collector.port))
        trickle = socket.create_connection(("127.0.0.1", collector.port))
        with silent, trickle:
            started = time.monotonic()
            # A byte every 0.1 s, 3 s for the request: the time is for the
            # whole request, not for each byte.
            hung_up = _trickle(trickle, PARTIAL[:30], 0.1)
            assert hung_up or _closed_by_peer(trickle, 1)
            assert _closed_by_peer(silent, 1)
            assert time.monotonic() - started < 2.5
            collector.scrape()


def test_when_full_the_oldest_silent_client_makes_room(tmp_path: Path) -> None:
    options = {"http_max_connections": 3, "http_timeout": 60}
    with CollectorProcess(workdir=tmp_path, options=options) as collector:
        address = ("127.0.0.1", collector.port)
        silent = [socket.create_connection(address) for _ in range(3)]
        try:
            time.sleep(0.5)  # all three accepted, in order
            collector.scrape()
            assert _closed_by_peer(silent[0], collectors.WAIT)
            assert not _closed_by_peer(silent[1], 0.3)
            # Full again: the next scrape closes the oldest silent one left.
            silent.append(socket.create_connection(address))
            time.sleep(0.5)
            collector.scrape()
            assert _closed_by_peer(silent[1], collectors.WAIT)
            assert not _closed_by_peer(silent[2], 0.3)
            assert not _closed_by_peer(silent[3], 0.3)
        finally:
            for client in silent:
                client.close()


def test_a_descriptor_limit_below_the_connection_limit_is_refused(
    tmp_path: Path,
) -> None:
    collector = CollectorProcess(
        workdir=tmp_path, options={"http_max_connections": 10_000},
    )
    collector.command = ("-c", (
        "import resource, sys; "
        "resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024)); "
        "from oslo_metrics_middleware.cmd import main; "
        "sys.argv[1:] = ['collector', *sys.argv[1:]]; sys.exit(main())"
    ))
    assert collectors.error(collector) == (
        "http_max_connections needs 10064 file descriptors, the limit is 1024 "
        "(raise LimitNOFILE or lower http_max_connections)"
    )
