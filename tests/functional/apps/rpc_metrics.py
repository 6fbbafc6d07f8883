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

"""Send RPC client metrics exactly as oslo.messaging does, then exit.

    python -m tests.functional.apps.rpc_metrics SOCKET CALLS

Runs ``oslo_messaging._metrics.client.measure_metrics`` around CALLS calls
that succeed and one that raises, with metrics enabled.
"""

from __future__ import annotations

import sys

from oslo_config import cfg
import oslo_messaging
from oslo_messaging._metrics import client

GROUP = "oslo_messaging_metrics"


def main(socket_path: str, calls: int) -> None:
    conf = cfg.ConfigOpts()
    conf.register_opts(client.oslo_messaging_metrics, group=GROUP)
    conf([])
    conf.set_override("metrics_enabled", True, GROUP)
    conf.set_override("metrics_socket_file", socket_path, GROUP)
    conf.set_override("metrics_process_name", "conductor-1", GROUP)
    # The sending thread ends this long after its last send; so does this.
    conf.set_override("metrics_thread_stop_timeout", 1, GROUP)
    target = oslo_messaging.Target(topic="conductor", version="1.3")
    for _ in range(calls):
        with client.measure_metrics(conf, target, "ping", "call"):
            pass
    try:
        with client.measure_metrics(conf, target, "ping", "call"):
            raise ValueError("remote failure")
    except ValueError:
        pass


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
