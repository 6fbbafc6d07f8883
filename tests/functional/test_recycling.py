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
