"""Metrics of OpenStack API requests, declared for the oslo.metrics daemon.

The daemon dispatches a datagram whose ``module`` is ``openstack_api`` to the
attribute of this module named by the datagram: ``labels(**labels)`` and then
``observe(value)`` or ``inc(value)``.  The metrics live in prometheus_client's
default registry, which the daemon serves on its Prometheus port.
"""

from __future__ import annotations

import logging
from typing import Any

import prometheus_client

from oslo_metrics_middleware import protocol

LOG = logging.getLogger(__name__)

# API latency spans a 5 ms token check to a minute-long image upload.
DURATION_BUCKETS = (
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

# The daemon looks counters up by the name the sender uses, which is the
# exposed name with its _total suffix.
openstack_api_exceptions_total = openstack_api_exceptions
openstack_api_metrics_dropped_samples_total = openstack_api_metrics_dropped_samples
openstack_api_metrics_route_overflow_total = openstack_api_metrics_route_overflow
openstack_api_metrics_action_overflow_total = openstack_api_metrics_action_overflow
openstack_api_metrics_microversion_overflow_total = (
    openstack_api_metrics_microversion_overflow
)


_Children = tuple[Any, Any, Any]
# Labelled children by label values: labels() takes a lock and builds a
# tuple per call, which would dominate the cost of ingesting a row.
_children: dict[tuple[str, str, str, int], _Children] = {}


def _children_for(key: tuple[str, str, str, int]) -> _Children:
    children = _children.get(key)
    if children is None:
        service, method, route, status = key
        children = (
            openstack_api_request_duration_seconds.labels(
                service, method, route, str(status)
            ),
            openstack_api_request_size_bytes.labels(service, method, route),
            openstack_api_response_size_bytes.labels(service, method, route),
        )
        _children[key] = children
    return children


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_BASE_LENGTH = len(protocol.SAMPLE_FIELDS)
_LABELLED_LENGTH = _BASE_LENGTH + len(protocol.EXTRA_FIELDS)
_action_children: dict[tuple[str, str, str, str, str, int], Any] = {}


def _observe_action(row: list[Any], duration: float) -> bool:
    """The action histogram of a labelled row; False when malformed."""
    service, method, route, status = row[:4]
    action, microversion = row[_BASE_LENGTH:]
    if not (isinstance(action, str) and isinstance(microversion, str)):
        return False
    key = (service, method, route, action, microversion, status)
    child = _action_children.get(key)
    if child is None:
        child = openstack_api_action_duration_seconds.labels(
            service, method, route, action, microversion, str(status)
        )
        _action_children[key] = child
    child.observe(duration)
    return True


def _apply_row(row: Any) -> bool:
    """Record one request row; False when the row is malformed."""
    if not isinstance(row, list) or len(row) not in (_BASE_LENGTH, _LABELLED_LENGTH):
        return False
    service, method, route, status, duration, req_bytes, resp_bytes, exc = row[
        :_BASE_LENGTH
    ]
    if not (
        isinstance(service, str)
        and isinstance(method, str)
        and isinstance(route, str)
        and isinstance(status, int)
        and _is_number(duration)
        and _is_number(req_bytes)
        and _is_number(resp_bytes)
    ):
        return False
    if len(row) == _LABELLED_LENGTH and not _observe_action(row, duration):
        return False
    duration_child, request_child, response_child = _children_for(
        (service, method, route, status)
    )
    duration_child.observe(duration)
    request_child.observe(req_bytes)
    response_child.observe(resp_bytes)
    if isinstance(exc, str):
        openstack_api_exceptions.labels(service, method, route, exc).inc()
    return True


class _BatchReceiver:
    """Takes the rows of one batch datagram (see protocol.encode_batch)."""

    def observe(self, value: Any) -> None:
        rows = value.get("rows") if isinstance(value, dict) else None
        if not isinstance(rows, list):
            LOG.error("Discarded a batch datagram without rows")
            return
        malformed = sum(1 for row in rows if not _apply_row(row))
        if malformed:
            LOG.error("Discarded %d malformed request rows", malformed)
            openstack_api_metrics_dropped_samples.labels("", "malformed").inc(malformed)


class _Batch:
    """The ``batch`` metric: a receiver for request rows, not a series."""

    _receiver = _BatchReceiver()

    def labels(self, **_labels: str) -> _BatchReceiver:
        return self._receiver


batch = _Batch()
