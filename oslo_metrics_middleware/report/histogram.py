"""Cumulative histogram buckets and the quantiles Prometheus derives from them."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
import math


def quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """The ``q`` quantile of cumulative ``(upper_bound, count)`` buckets.

    Interpolates linearly inside the bucket, as PromQL's
    ``histogram_quantile`` does: the lowest bucket starts at 0, and a rank
    in the +Inf bucket returns the highest finite bound.  NaN when empty.
    """
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return math.nan
    if not math.isinf(ordered[-1][0]):
        return math.nan
    total = ordered[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for upper_bound, count in ordered:
        if count >= rank:
            if math.isinf(upper_bound):
                return lower_bound
            if count == lower_count:
                return upper_bound
            share = (rank - lower_count) / (count - lower_count)
            return lower_bound + (upper_bound - lower_bound) * share
        lower_bound, lower_count = upper_bound, count
    return lower_bound


def bucket_index(value: float, bounds: Sequence[float]) -> int:
    """Index of the bucket ``(bounds[i-1], bounds[i]]`` holding ``value``."""
    return bisect.bisect_left(sorted(bounds), value)
