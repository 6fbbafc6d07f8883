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

"""Workers recycled under load: every request counted, none lost.

gunicorn ``--max-requests`` and uWSGI ``max-requests`` end a worker after a
number of requests and fork a fresh one; the leaving worker must deliver
what it holds before it goes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
import time

import pytest

from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import servers
from tests.functional.apps import PID_HEADER

REQUESTS = 300
MAX_REQUESTS = "50"

RECYCLING: dict[str, Callable[[Path, dict[str, str]], servers.ServerProcess]] = {
    "gunicorn": lambda workdir, env: servers.gunicorn_server(
        workdir, env, workers=2, extra=["--max-requests", MAX_REQUESTS]
    ),
    "uwsgi": lambda workdir, env: servers.uwsgi_server(
        workdir, env, processes=2,
        # uWSGI keeps a worker at least 10 s unless told otherwise.
        extra=["--max-requests", MAX_REQUESTS, "--min-worker-lifetime", "0"],
    ),
}


@pytest.mark.parametrize("name", sorted(RECYCLING))
def test_recycled_workers_deliver_every_request(
    name: str, tmp_path: Path
) -> None:
    path = tmp_path / "collector.sock"
    env = servers.server_env(path, flush_interval=0.05)
    # A collector that is behind: a leaving worker finds its queue full.
    with servers.DatagramCollector(path, pause=0.05) as collector, (
        RECYCLING[name](tmp_path, env)
    ) as server:
        responses = servers.run_parallel(
            lambda: servers.get_server(server.port), REQUESTS, concurrency=4
        )
        pids = {headers[PID_HEADER] for _, headers, _ in responses}
        # Accounted for while the server still runs: what a stop does to
        # the last workers (uWSGI's SIGINT kills them) is not the question.
        accounted = collector.wait(REQUESTS, timeout=30)
        time.sleep(0.5)  # nothing more may arrive
        accounted = collector.accounted

    assert [status for status, _, _ in responses] == [200] * REQUESTS
    assert len(pids) >= REQUESTS // int(MAX_REQUESTS)  # workers were recycled
    assert accounted == REQUESTS, collector.dropped


# A worker serves MAX_REQUESTS, so it fills this buffer and drops the rest
# (buffer_full) while the collector is away, then leaves holding it all.
AWAY_BUFFER = 20
# Short, so a leaving worker gives up on the socket within the outage.
AWAY_GRACE = 0.3
# Recycled workers the outage lasts for, at least.
AWAY_RECYCLES = 4


def _counted(series: servers.Series) -> float:
    return servers.requests_counted(series)


def _dropped(series: servers.Series) -> dict[str, float]:
    """Dropped samples by reason, over every service."""
    found: dict[str, float] = {}
    for (name, labels), amount in series.items():
        if name == servers.DROPPED and amount:
            reason = dict(labels)["reason"]
            found[reason] = found.get(reason, 0) + amount
    return found


@pytest.mark.parametrize("name", sorted(RECYCLING))
def test_recycled_while_collector_away_every_request_counted(
    name: str, tmp_path: Path
) -> None:
    """Workers leave while no collector runs, for longer than their grace
    period: what they hold reaches the next collector through the spool."""
    path = tmp_path / "collector.sock"
    moved = tmp_path / "collector.sock.away"
    env = servers.server_env(
        path, buffer_size=AWAY_BUFFER, exit_grace=AWAY_GRACE
    )
    first = CollectorProcess(workdir=tmp_path, socket_path=path)
    second = CollectorProcess(workdir=tmp_path, socket_path=path)
    server = RECYCLING[name](tmp_path, env)
    try:
        first.start()
        server.start()
        with servers.Traffic(
            lambda: servers.get_server(server.port), clients=2
        ) as load:
            servers.wait_for(first, lambda s: _counted(s) >= 30, timeout=10)
            # Unreachable from here on: the senders hold, then spool.
            path.rename(moved)
            away_at = load.sent
            before = servers.settle(first, quiet=0.5)
            first.stop()
            moved.unlink()
            load.wait_sent(away_at + AWAY_RECYCLES * int(MAX_REQUESTS) * 2)
            time.sleep(AWAY_GRACE * 3)  # the last leaver gives up too
            second.start()
            load.wait_sent(load.sent + 100)
        sent = load.sent
        failures = load.failures
        statuses = set(load.statuses)
        expected = sent - _counted(before) - sum(_dropped(before).values())
        after = servers.wait_for(
            second,
            lambda s: _counted(s) + sum(_dropped(s).values()) >= expected,
            timeout=10,
        )
        time.sleep(0.5)  # nothing more may arrive
        after = servers.scrape(second)
        log = server.log()
        read = second.log()
    finally:
        server.stop()
        first.stop()
        second.stop()
        moved.unlink(missing_ok=True)

    assert failures == []
    assert statuses == {200}
    # A buffer of 20 may overflow on a loaded host even with the first
    # collector up; such drops are counted there, and nothing else is.
    assert set(_dropped(before)) <= {"buffer_full"}, _dropped(before)
    # Every worker that left during the outage spooled all it held; the
    # only drops are those of full buffers, counted by the same workers.
    dropped = _dropped(after)
    assert set(dropped) == {"buffer_full"}, (dropped, log)
    assert _counted(after) + dropped["buffer_full"] == expected, log
    assert "not delivered" not in log
    assert read.count("datagrams from the spool") >= 1, read
    assert not list(Path(f"{path}.spool").iterdir())
