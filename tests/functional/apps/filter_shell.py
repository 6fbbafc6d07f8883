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

"""An API process with the filter, driven line by line on stdin.

Usage: ``SOCKET OWNER [EXIT_GRACE_PERIOD]``.  Each line ``N`` serves N
requests through the filter, flushes its sender once and answers one JSON line: samples
delivered, held, the drop counts still waiting to be sent by reason, and
every line the filter logged so far.  Run as the API's user, so the trust
check sees what an API process would.  What it logs as it leaves, at end
of input, goes to stderr.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from oslo_metrics_middleware import lifecycle
from oslo_metrics_middleware import middleware
from oslo_metrics_middleware import transport
from tests import wsgi


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


def _app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


def main(argv: list[str]) -> int:
    socket_path, owner, *grace = argv
    lines = _Lines()
    logging.getLogger("oslo_metrics_middleware").addHandler(lines)
    leaving = logging.StreamHandler(sys.stderr)
    leaving.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logging.getLogger("oslo_metrics_middleware").addHandler(leaving)
    logging.getLogger("oslo_metrics_middleware").setLevel(logging.INFO)
    # A long interval: only this script's flushes deliver.
    app = middleware.MetricsMiddleware.factory(
        {}, service_name="compute", metrics_socket_file=socket_path,
        metrics_socket_owner=owner, flush_interval="60",
        **({"exit_grace_period": grace[0]} if grace else {}),
    )(_app)
    sender = lifecycle.get_sender(socket_path, 10000, 60.0)
    for line in sys.stdin:
        for _ in range(int(line)):
            wsgi.call(app, wsgi.environ(path="/v2.1/servers"))
        sender.flush()
        dropped = {
            reason: amount
            for (counter, _, reason), amount in sender._counts.items()
            if counter == transport.DROPPED
        }
        print(json.dumps({
            "delivered": sender.delivered, "held": sender.held,
            "dropped": dropped, "log": lines.lines,
        }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
