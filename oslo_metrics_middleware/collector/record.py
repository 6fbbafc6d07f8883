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

"""Recording checked, capped request rows into the metrics.

The children of a label set are found once and kept: a row whose labels
were all admitted unchanged finds its children with one dictionary lookup,
the cost of recording with no checks at all.
"""

from __future__ import annotations

import collections
from typing import Any

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector import histograms
from oslo_metrics_middleware.collector import openstack_api as api
from oslo_metrics_middleware.collector.caps import RequestSets

# The series a row is recorded in: duration, request and response size
# children, the action child or None, the exception child or None.
Targets = tuple[tuple[Any, Any, Any], Any, Any]

# Bucket bounds in the units of format 2 columns.
_DURATION_BOUNDS = histograms.bounds(api.DURATION_BUCKETS, protocol.MICROSECONDS)
_SIZE_BOUNDS = histograms.bounds(api.SIZE_BUCKETS)


class Children:
    """The metric children of request rows, by the labels they arrived with.

    Only rows whose labels were admitted unchanged are kept, so each table
    holds no more entries than its metric holds label sets.
    """

    def __init__(self) -> None:
        self._known: dict[tuple[Any, ...], tuple[Any, Any, Any]] = {}
        self._known_actions: dict[tuple[Any, ...], Any] = {}
        self._known_exceptions: dict[tuple[Any, ...], Any] = {}

    def find(
        self, key: tuple[Any, ...], extra: tuple[Any, ...], exception: Any
    ) -> Targets | None:
        """The targets of a row seen before; TypeError for labels that
        cannot be dictionary keys."""
        children = self._known.get(key)
        if children is None:
            return None
        labelled = None
        if extra:
            labelled = self._known_actions.get(key + extra)
            if labelled is None:
                return None
        failed = None
        if exception is not None:
            failed = self._known_exceptions.get((*key, exception))
            if failed is None:
                return None
        return children, labelled, failed

    def of(
        self,
        sets: RequestSets,
        key: tuple[Any, ...],
        extra: tuple[Any, ...],
        exception: Any,
    ) -> Targets:
        """The targets of ``sets``, kept under the row's own labels for
        each metric that recorded them unchanged."""
        service, method, route = sets.duration[:3]
        children = (
            api.openstack_api_request_duration_seconds.labels(*sets.duration),
            api.openstack_api_request_size_bytes.labels(service, method, route),
            api.openstack_api_response_size_bytes.labels(service, method, route),
        )
        unchanged = sets.duration == (*key[:3], str(key[3]))
        if unchanged:
            self._known[key] = children
        labelled = None
        if sets.action is not None:
            labelled = api.openstack_api_action_duration_seconds.labels(*sets.action)
            if sets.action == (*key[:3], *extra, str(key[3])):
                self._known_actions[key + extra] = labelled
        failed = None
        if sets.exception is not None:
            failed = api.openstack_api_exceptions.labels(*sets.exception)
            if sets.exception == (*key[:3], exception):
                self._known_exceptions[(*key, exception)] = failed
        return children, labelled, failed


def observe(
    targets: Targets,
    duration: float,
    request_bytes: float,
    response_bytes: float,
    exemplar: dict[str, str] | None,
) -> None:
    """Record one request row."""
    children, labelled, failed = targets
    children[0].observe(duration, exemplar)
    children[1].observe(request_bytes)
    children[2].observe(response_bytes)
    if labelled is not None:
        labelled.observe(duration)
    if failed is not None:
        failed.inc()


def observe_all(
    targets: list[Targets],
    indexes: bytes,
    durations: list[int],
    request_bytes: list[int],
    response_bytes: list[int],
    request_ids: list[str | None],
) -> None:
    """Record the checked rows of a format 2 batch, each touched bucket and
    sum added to once."""
    # The action histogram observes the same durations as the main one.
    timed = [
        (children[0], labelled) if labelled else children[:1]
        for children, labelled, _ in targets
    ]
    buckets = histograms.observe_all(
        timed, indexes, durations, _DURATION_BOUNDS, protocol.MICROSECONDS
    )
    for size, column in ((1, request_bytes), (2, response_bytes)):
        sized = [children[size : size + 1] for children, _, _ in targets]
        histograms.observe_all(sized, indexes, column, _SIZE_BOUNDS)
    if any(request_ids):
        histograms.set_exemplars(
            [children[0] for children, _, _ in targets],
            indexes,
            buckets,
            durations,
            request_ids,
            protocol.REQUEST_ID_FIELD,
            protocol.MICROSECONDS,
        )
    for key, count in collections.Counter(indexes).items():
        failed = targets[key][2]
        if failed is not None:
            failed.inc(count)
