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

"""Run the unmodified upstream oslo.metrics daemon with this project's metrics.

For hosts that would rather run upstream's daemon than the collector:

    python -m oslo_metrics_middleware.collector.stock --config-file FILE

It reads the same ``[oslo_metrics]`` options, but has none of the
collector's start-up checks, caps or self-metrics; the rows of a batch still
go through the same checks (collector/ingest.py).
"""

from __future__ import annotations

import sys

# The daemon keys modules by the last dotted component: "openstack_api",
# which is protocol.MODULE.
METRICS_MODULE = "oslo_metrics_middleware.collector.openstack_api"


def main(argv: list[str]) -> None:
    """Start the upstream daemon with ``argv`` as its command line."""
    from oslo_metrics import message_router

    # Attaches the checks and caps to the batch metric.
    from oslo_metrics_middleware.collector import ingest  # noqa: F401

    if METRICS_MODULE not in message_router.MODULE_LISTS:
        message_router.MODULE_LISTS.append(METRICS_MODULE)
    # Importing the daemon module registers its options and logging.
    from oslo_metrics import __main__ as daemon

    sys.argv = ["oslo-metrics", *argv]
    daemon.main()


if __name__ == "__main__":
    main(sys.argv[1:])
