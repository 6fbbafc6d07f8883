"""Run the upstream oslo.metrics daemon with this project's metrics loaded."""

from __future__ import annotations

import sys

# The daemon keys modules by the last dotted component: "openstack_api",
# which is protocol.MODULE.
METRICS_MODULE = "oslo_metrics_middleware.collector.openstack_api"


def run(argv: list[str]) -> None:
    """Start the daemon with ``argv`` as its command line (``--config-file``).

    oslo.messaging's metrics stay registered beside this project's.
    """
    from oslo_metrics import message_router

    if METRICS_MODULE not in message_router.MODULE_LISTS:
        message_router.MODULE_LISTS.append(METRICS_MODULE)
    # Importing the daemon module registers its options and logging.
    from oslo_metrics import __main__ as daemon

    sys.argv = ["oslo-metrics", *argv]
    daemon.main()
