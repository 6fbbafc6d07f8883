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

"""uWSGI pre-fork without enable-threads: no Python thread runs there.

The application is loaded in the master (no lazy-apps) and the workers
are forked in C, so no Python at-fork hook runs in them.  While a worker
waits for a request it holds the GIL, so the flusher thread does not run:
delivery comes from the inline flush on the request path and, once traffic
stops, from the uWSGI timer signal the transport registers in the master.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
import time

from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import servers
from tests.functional.apps import PID_HEADER

BURSTS = 3
PER_BURST = 20
# The uWSGI timer fires once a second.
QUIET_DELIVERY = 2.5


def test_prefork_without_threads_delivers_every_sample(
    collector: CollectorProcess, tmp_path: Path
) -> None:
    env = servers.server_env(collector.socket_path)
    counted_after_burst: list[float] = []
    delays: list[float] = []
    pids: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    with servers.uwsgi_server(tmp_path, env, processes=2) as server:
        for burst in range(1, BURSTS + 1):
            responses = servers.run_parallel(
                lambda: servers.get_server(server.port),
                PER_BURST,
                concurrency=2,
            )
            statuses.update(status for status, _, _ in responses)
            pids.update(headers[PID_HEADER] for _, headers, _ in responses)
            # No further request: only the timer can deliver the rest.
            stopped = time.monotonic()
            series = servers.wait_for(
                collector,
                lambda s, n=burst: servers.requests_counted(s)
                >= n * PER_BURST,
                timeout=QUIET_DELIVERY,
            )
            delays.append(time.monotonic() - stopped)
            counted_after_burst.append(servers.requests_counted(series))
        series = servers.settle(collector, quiet=1.2)
        log = server.log()

    sent = BURSTS * PER_BURST
    assert statuses == {200: sent}
    assert len(pids) == 2, pids
    assert counted_after_burst == [
        n * PER_BURST for n in range(1, BURSTS + 1)
    ], (delays, log)
    labels = {"service": "compute", "method": "GET",
              "route": servers.SERVER_ROUTE}
    assert servers.value(
        series, f"{servers.DURATION}_count", status="200", **labels
    ) == sent
    assert servers.requests_counted(series) == sent
    assert servers.total(series, servers.DROPPED) == 0
    # Threads really are off in these workers.
    assert "--enable-threads" not in server.argv
    assert "Traceback" not in log
