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

"""The collector goes away and comes back while the API serves traffic.

Datagrams already queued in the kernel when a daemon process exits are
lost, and its counters die with it.  The exact test therefore first makes
the daemon unreachable by moving its socket file away (the sender does a
``sendto`` on the path for every datagram, gets ENOENT and keeps its
samples), lets it drain, reads its final counts and only then kills it.
"""

from __future__ import annotations

from pathlib import Path
import time

from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import servers

BUFFER_SIZE = 20
# The flusher thread retries every flush interval (0.05 s).
PROMPT_DELIVERY = 2.0


def _collector(tmp_path: Path, socket_path: Path) -> CollectorProcess:
    return CollectorProcess(workdir=tmp_path, socket_path=socket_path)


def _counted(series: servers.Series) -> float:
    return servers.value(
        series, f"{servers.DURATION}_count", service="compute",
        method="GET", route=servers.SERVER_ROUTE, status="200",
    )


def _dropped(series: servers.Series, reason: str) -> float:
    return servers.value(
        series, servers.DROPPED, service="compute", reason=reason
    )


def test_restart_loses_nothing_uncounted(tmp_path: Path) -> None:
    socket_path = tmp_path / "metrics.sock"
    moved = tmp_path / "metrics.sock.away"
    env = servers.server_env(socket_path, buffer_size=BUFFER_SIZE)
    first = _collector(tmp_path, socket_path)
    second = _collector(tmp_path, socket_path)
    server = servers.python_server("wsgiref_server", tmp_path, env)
    try:
        first.start()
        server.start()
        with servers.Traffic(lambda: servers.get_server(server.port)) as load:
            servers.wait_for(first, lambda s: _counted(s) >= 30, timeout=10)

            # Unreachable: the sender now keeps what it cannot send.
            socket_path.rename(moved)
            sent_at_move = load.sent
            before = servers.settle(first, quiet=0.5)
            first.process.kill()  # type: ignore[union-attr]
            first.stop()
            moved.unlink()

            # No daemon: the buffer fills and the rest is dropped, counted.
            load.wait_sent(sent_at_move + BUFFER_SIZE + 40)

            second.start()
            restarted = load.sent
            servers.wait_for(
                second, lambda s: _counted(s) > 0, timeout=PROMPT_DELIVERY
            )
            load.wait_sent(restarted + 40)
        sent = load.sent
        failures = load.failures
        statuses = set(load.statuses)
        after = servers.wait_for(
            second,
            lambda s: _counted(s) + _dropped(s, "buffer_full")
            >= sent - _counted(before) - _dropped(before, "buffer_full"),
            timeout=5,
        )
        after = servers.settle(second)
    finally:
        server.stop()
        first.stop()
        second.stop()
        moved.unlink(missing_ok=True)

    assert failures == []
    assert statuses == {200}
    dropped = _dropped(after, "buffer_full")
    assert dropped > 0
    assert servers.total(after, servers.DROPPED) == dropped
    assert servers.total(before, servers.DROPPED) == _dropped(
        before, "buffer_full"
    )
    assert sent == (
        _counted(before) + _counted(after) + dropped
        + _dropped(before, "buffer_full")
    )
    assert servers.requests_counted(before) == _counted(before)
    assert servers.requests_counted(after) == _counted(after)


def test_killed_daemon_gets_held_samples_promptly(tmp_path: Path) -> None:
    socket_path = tmp_path / "metrics.sock"
    env = servers.server_env(socket_path)
    first = _collector(tmp_path, socket_path)
    second = _collector(tmp_path, socket_path)
    server = servers.python_server("wsgiref_server", tmp_path, env)
    try:
        first.start()
        server.start()
        with servers.Traffic(
            lambda: servers.get_server(server.port), clients=2
        ) as load:
            servers.wait_for(first, lambda s: _counted(s) >= 30, timeout=10)
            # Abrupt: whatever the kernel queued for it is lost.
            first.process.kill()  # type: ignore[union-attr]
            first.process.wait(10)  # type: ignore[union-attr]
            killed = time.monotonic()
            load.wait_sent(load.sent + 60)
        sent = load.sent
        held_at_least = load.started_after(killed)
        failures = load.failures
        statuses = set(load.statuses)

        # No request arrives from here on: the flusher alone delivers.
        first.stop()  # removes the stale socket file
        second.start()
        ready = time.monotonic()
        after = servers.wait_for(
            second,
            lambda s: _counted(s) >= held_at_least,
            timeout=PROMPT_DELIVERY,
        )
        delay = time.monotonic() - ready
        after = servers.settle(second)
    finally:
        server.stop()
        first.stop()
        second.stop()

    assert failures == []
    assert statuses == {200}
    assert held_at_least >= 60
    assert delay < PROMPT_DELIVERY
    assert held_at_least <= _counted(after) <= sent
    assert servers.total(after, servers.DROPPED) == 0
