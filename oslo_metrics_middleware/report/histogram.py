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

"""Cumulative histogram buckets and the quantiles Prometheus derives from them."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
import dataclasses
import math

# Inside a bucket whose upper bound is more than this many times its lower
# bound, an interpolated quantile says little beyond the bound itself.
WIDE_RATIO = 2.0


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A quantile read from buckets: the interpolated value and its bucket.

    ``value`` is what PromQL's ``histogram_quantile`` gives; the truth is
    only known to lie in ``(lower, upper]``.
    """

    value: float
    lower: float = 0.0
    upper: float = math.inf

    @property
    def bounded(self) -> bool:
        """True when only the bucket's bound is worth showing.

        That is the lowest bucket (anything from 0), the +Inf bucket and
        a wide bucket, where interpolation would be fake precision.
        """
        if math.isnan(self.value):
            return False
        return (self.lower == 0 or math.isinf(self.upper)
                or self.upper > WIDE_RATIO * self.lower)


def estimate(q: float, buckets: Sequence[tuple[float, float]]) -> Estimate:
    """The ``q`` quantile of cumulative ``(upper_bound, count)`` buckets.

    Interpolates linearly inside the bucket, as PromQL's
    ``histogram_quantile`` does: the lowest bucket starts at 0, and a rank
    in the +Inf bucket returns the highest finite bound.  NaN when empty.
    """
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0 or not math.isinf(ordered[-1][0]):
        return Estimate(math.nan)
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for upper_bound, count in ordered:
        if count >= rank:
            return Estimate(
                _interpolate(rank, lower_bound, lower_count, upper_bound,
                             count),
                lower_bound, upper_bound)
        lower_bound, lower_count = upper_bound, count
    return Estimate(lower_bound, lower_bound)


def _interpolate(rank: float, lower_bound: float, lower_count: float,
                 upper_bound: float, count: float) -> float:
    if math.isinf(upper_bound):
        return lower_bound
    if count == lower_count:
        return upper_bound
    share = (rank - lower_count) / (count - lower_count)
    return lower_bound + (upper_bound - lower_bound) * share


def quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """The interpolated value of :func:`estimate`."""
    return estimate(q, buckets).value


def bucket_index(value: float, bounds: Sequence[float]) -> int:
    """Index of the bucket ``(bounds[i-1], bounds[i]]`` holding ``value``."""
    return bisect.bisect_left(sorted(bounds), value)


def milliseconds(seconds: float) -> str:
    """``2.5``, ``250``: a bucket bound in milliseconds, no trailing zeros."""
    return f"{seconds * 1000:.6g}"


def latency_text(quantile: Estimate) -> str:
    """``12.3 ms``, or a bound (``< 1 ms``, ``<= 250 ms``, ``> 60000 ms``)."""
    if math.isnan(quantile.value):
        return "-"
    if not quantile.bounded:
        return f"{quantile.value * 1000:.1f} ms"
    if math.isinf(quantile.upper):
        return f"> {milliseconds(quantile.lower)} ms"
    if quantile.lower == 0:
        return f"< {milliseconds(quantile.upper)} ms"
    return f"<= {milliseconds(quantile.upper)} ms"
