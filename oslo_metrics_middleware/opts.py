"""Configuration options of the metrics filter, for oslo-config-generator."""

from __future__ import annotations

import copy

from oslo_config import cfg

GROUP = "oslo_metrics_middleware"

# The path oslo.messaging and the oslo.metrics daemon agree on.
DEFAULT_SOCKET = "/var/tmp/metrics_collector.sock"

METRICS_OPTS = [
    cfg.BoolOpt(
        "enabled",
        default=True,
        help="Measure API requests and send them to the oslo.metrics daemon. "
        "When False the filter passes requests through untouched.",
    ),
    cfg.StrOpt(
        "metrics_socket_file",
        default=DEFAULT_SOCKET,
        help="Unix datagram socket of the oslo.metrics daemon (the "
        "[oslo_metrics] metrics_socket_file of the collector).",
    ),
    cfg.StrOpt(
        "service_name",
        help="Value of the 'service' label, for example 'compute'. When "
        "unset, the name of the running program is used.",
    ),
    cfg.ListOpt(
        "excluded_paths",
        default=["/healthcheck"],
        help="Request paths that are not measured. A path excludes itself "
        "and everything below it ('/healthcheck' also covers "
        "'/healthcheck/details').",
    ),
    cfg.IntOpt(
        "buffer_size",
        default=10000,
        min=1,
        max=10_000_000,
        help="Most samples held in memory per process while the daemon is "
        "slow or down. Samples beyond it are dropped and counted in "
        "openstack_api_metrics_dropped_samples_total.",
    ),
    cfg.IntOpt(
        "max_routes",
        default=500,
        min=1,
        max=100_000,
        help="Most distinct route labels per process. Requests on further "
        "routes are labelled '__overflow__' and counted in "
        "openstack_api_metrics_route_overflow_total.",
    ),
    cfg.FloatOpt(
        "flush_interval",
        default=0.2,
        min=0.01,
        max=60.0,
        help="Seconds between deliveries of buffered samples to the daemon.",
    ),
]


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """Return the options of this library for oslo-config-generator."""
    return [(GROUP, copy.deepcopy(METRICS_OPTS))]
