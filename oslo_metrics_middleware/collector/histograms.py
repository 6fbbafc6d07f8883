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

"""Many observations into prometheus_client histograms at once.

``Histogram.observe`` walks the bucket bounds in Python and takes two
locks for every value: for the collector, which records every request of
a host, that was most of its CPU.  Here the rows of a datagram are counted
per (series, bucket) in C and each touched bucket is added to once, with
the same result as observing the values one by one.  This reaches into a
histogram child's buckets and sum (``_buckets`` and ``_sum``, private to
prometheus_client); tests/unit/test_collector_histograms.py compares both
ways, so a prometheus_client release that changes them fails the tests,
and USABLE turns bulk recording off where they are missing.
"""

from __future__ import annotations

import bisect
import collections
from collections.abc import Sequence
import functools
import itertools
import math
import time
from typing import Any

import prometheus_client
from prometheus_client.samples import Exemplar

# One entry per key of a datagram: the histogram children that observe
# the rows of that key.
Observers = Sequence[Sequence[Any]]


def parts_have(*methods: str) -> bool:
    """Whether this prometheus_client's histograms keep a sum and buckets
    (``_sum``, ``_buckets``) that all have ``methods``."""
    probe = prometheus_client.Histogram("probe", "", registry=None)
    parts = [getattr(probe, "_sum", None), *getattr(probe, "_buckets", [None])]
    return all(
        callable(getattr(part, method, None)) for part in parts for method in methods
    )


USABLE = parts_have("inc", "set_exemplar")


def bounds(upper_bounds: Sequence[float], scale: float = 1) -> tuple[float, ...]:
    """A histogram's bucket bounds in the unit rows carry (``scale`` of
    them make one of the histogram's), +Inf last."""
    return (*(round(bound * scale) for bound in upper_bounds), math.inf)


def observe_all(
    observers: Observers,
    keys: bytes,
    values: Sequence[int],
    bucket_bounds: Sequence[float],
    scale: float = 1,
) -> list[int]:
    """Observe ``values[n] / scale`` in the observers of key ``keys[n]``.

    Returns each value's bucket, for exemplars.
    """
    buckets = list(map(functools.partial(bisect.bisect_left, bucket_bounds), values))
    per_bucket = collections.Counter(zip(keys, buckets, strict=True))
    for (key, bucket), count in per_bucket.items():
        for child in observers[key]:
            child._buckets[bucket].inc(count)
    sums = [0] * len(observers)
    for key, value in zip(keys, values, strict=True):
        sums[key] += value
    for children, total in zip(observers, sums, strict=True):
        if total:
            for child in children:
                child._sum.inc(total / scale)
    return buckets


def set_exemplars(
    histograms: Sequence[Any],
    keys: bytes,
    buckets: Sequence[int],
    values: Sequence[int],
    ids: Sequence[str | None],
    label: str,
    scale: float = 1,
) -> None:
    """Give each bucket of ``histograms[key]`` the exemplar ``{label: id}``
    of its last row with an id, as observing row by row would."""
    rows = zip(
        zip(keys, buckets, strict=True), zip(ids, values, strict=True), strict=True
    )
    last = dict(itertools.compress(rows, ids))
    now = time.time()
    for (key, bucket), (exemplar_id, value) in last.items():
        assert exemplar_id is not None  # compress() kept rows with an id
        histograms[key]._buckets[bucket].set_exemplar(
            Exemplar({label: exemplar_id}, value / scale, now)
        )
