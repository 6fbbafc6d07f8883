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

"""Metrics of OpenStack API requests, declared for the oslo.metrics daemon.

The daemon dispatches a datagram whose ``module`` is ``openstack_api`` to the
attribute of this module named by the datagram: ``labels(**labels)`` and then
``observe(value)`` or ``inc(value)``.  The metrics live in prometheus_client's
default registry, which the daemon serves on its Prometheus port.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import prometheus_client

# API latency spans a sub-millisecond cached GET to a minute-long image
# upload; the lowest bound is 1 ms so fast endpoints are not all "< 5 ms".
# Each bound is one series per (service, method, route, status).
DURATION_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
# Bodies run from an empty GET to multi-gigabyte image transfers.
SIZE_BUCKETS = tuple(float(10**exponent) for exponent in range(1, 11))

REQUEST_LABELS = ("service", "method", "route")

openstack_api_request_duration_seconds = prometheus_client.Histogram(
    "openstack_api_request_duration_seconds",
    "Time from the start of an API request until its response body closed.",
    (*REQUEST_LABELS, "status"),
    buckets=DURATION_BUCKETS,
)
openstack_api_request_size_bytes = prometheus_client.Histogram(
    "openstack_api_request_size_bytes",
    "Bytes of request body the API read.",
    REQUEST_LABELS,
    buckets=SIZE_BUCKETS,
)
openstack_api_response_size_bytes = prometheus_client.Histogram(
    "openstack_api_response_size_bytes",
    "Bytes of response body the API produced.",
    REQUEST_LABELS,
    buckets=SIZE_BUCKETS,
)
openstack_api_action_duration_seconds = prometheus_client.Histogram(
    "openstack_api_action_duration_seconds",
    "Request duration by action and microversion, for filters that enable "
    "action_label or microversion_label.",
    (*REQUEST_LABELS, "action", "microversion", "status"),
    buckets=DURATION_BUCKETS,
)
openstack_api_exceptions = prometheus_client.Counter(
    "openstack_api_exceptions",
    "API requests that raised an exception through the metrics filter.",
    (*REQUEST_LABELS, "exception"),
)
openstack_api_metrics_dropped_samples = prometheus_client.Counter(
    "openstack_api_metrics_dropped_samples",
    "Request samples the metrics transport could not deliver.",
    ("service", "reason"),
)
openstack_api_metrics_route_overflow = prometheus_client.Counter(
    "openstack_api_metrics_route_overflow",
    "Requests labelled __overflow__ because max_routes was reached.",
    ("service",),
)
openstack_api_metrics_action_overflow = prometheus_client.Counter(
    "openstack_api_metrics_action_overflow",
    "Requests labelled action=__overflow__ because max_label_values was reached.",
    ("service",),
)
openstack_api_metrics_microversion_overflow = prometheus_client.Counter(
    "openstack_api_metrics_microversion_overflow",
    "Requests labelled microversion=__overflow__ because max_label_values "
    "was reached.",
    ("service",),
)
# Per service, the top_projects heaviest projects by each measure and
# __other__ (see collector/projects.py); never sent by a filter.
openstack_api_project_requests = prometheus_client.Counter(
    "openstack_api_project_requests",
    "Requests that carried a project, by the service's heaviest projects "
    "and __other__.",
    ("service", "project"),
)
openstack_api_project_busy_seconds = prometheus_client.Counter(
    "openstack_api_project_busy_seconds",
    "Seconds of requests that carried a project, by the service's heaviest "
    "projects by busy time and __other__.",
    ("service", "project"),
)

# The daemon looks counters up by the name the sender uses, which is the
# exposed name with its _total suffix.
openstack_api_exceptions_total = openstack_api_exceptions
openstack_api_metrics_dropped_samples_total = openstack_api_metrics_dropped_samples
openstack_api_metrics_route_overflow_total = openstack_api_metrics_route_overflow
openstack_api_metrics_action_overflow_total = openstack_api_metrics_action_overflow
openstack_api_metrics_microversion_overflow_total = (
    openstack_api_metrics_microversion_overflow
)

# The counters filters send as single messages, by the name they use.
COUNTERS_SENT = (
    "openstack_api_metrics_dropped_samples_total",
    "openstack_api_metrics_route_overflow_total",
    "openstack_api_metrics_action_overflow_total",
    "openstack_api_metrics_microversion_overflow_total",
)

# -- the collector's own health -------------------------------------------
# Served by "oslo-metrics-middleware collector" (see collector/ingest.py);
# never sent by a filter, so not reachable by a datagram's name.
collector_datagrams_total = prometheus_client.Counter(
    "oslo_metrics_collector_datagrams",
    "Datagrams the collector read from its socket.",
)
collector_rows_total = prometheus_client.Counter(
    "oslo_metrics_collector_rows",
    "Request rows the collector received in batch datagrams.",
)
collector_rejected_total = prometheus_client.Counter(
    "oslo_metrics_collector_rejected",
    "Rows, messages or datagrams the collector refused, by reason.",
    ("reason",),
)
collector_overflow_total = prometheus_client.Counter(
    "oslo_metrics_collector_overflow",
    "Requests whose label value the collector folded into __overflow__ "
    "because the collector-wide cap of that label was reached.",
    ("service", "label"),
)


class _Batch:
    """The ``batch`` metric: a receiver for request rows, not a series.

    The upstream daemon calls ``batch.labels().observe(value)``; the rows
    go to ``receiver``, which collector/ingest.py sets when it is imported,
    so they get the same checks and caps under either daemon.
    """

    def __init__(self) -> None:
        self.receiver: Callable[[Any], None] | None = None

    def labels(self, **_labels: Any) -> _Batch:
        return self

    def observe(self, value: Any) -> None:
        if self.receiver is None:
            raise RuntimeError("request rows arrived before the collector's ingest")
        self.receiver(value)


batch = _Batch()
