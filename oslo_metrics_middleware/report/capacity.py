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

"""Workers, utilisation and growth: capacity from busy time.

By Little's law the average number of requests in progress equals the
arrival rate times the mean time in the system; summed over a service's
endpoints that is the number of busy workers (processes x threads).
"""

from __future__ import annotations

from collections.abc import Sequence
import configparser
import dataclasses
import math
from pathlib import Path
import statistics

from oslo_metrics_middleware.report.model import ReportError
from oslo_metrics_middleware.report.timeparse import rough_duration

DAY = 86400.0
# A trend over less than a few days mostly measures the daily cycle, and a
# line through a few points is whatever those points happen to be.
TREND_MIN_HISTORY = 3 * DAY
TREND_POINTS_PER_DAY = 3
# A forecast reaches at most this many times its history ahead.
FORECAST_MULTIPLE = 2.0
DEFAULT_TARGET = 0.7


@dataclasses.dataclass
class CapacitySettings:
    """Workers per service and the utilisation planners aim to stay under."""

    workers: dict[str, int] = dataclasses.field(default_factory=dict)
    target_utilisation: float = DEFAULT_TARGET
    # Where each service's workers were given, for errors that name it.
    given_in: dict[str, str] = dataclasses.field(default_factory=dict)

    def check_services(self, known: set[str], left_out: set[str]) -> None:
        """Fail on workers for a service the data does not hold.

        Services in ``left_out`` (excluded with ``--service``) are
        dropped instead: a config file may well list every service.
        """
        for service in sorted(self.workers):
            if service in known:
                continue
            if service in left_out:
                del self.workers[service]
                continue
            raise ReportError(
                f"{self.given_in.get(service, '--workers')}: no service "
                f"{service!r} in the data (services: "
                f"{', '.join(sorted(known)) or 'none'})"
            )


def parse_workers(text: str) -> tuple[str, int]:
    """``compute=4x8`` (processes x threads) or ``compute=32``."""
    service, sep, spec = text.partition("=")
    if not sep or not service.strip():
        raise ValueError(f"expected SERVICE=PROCESSESxTHREADS, got {text!r}")
    return service.strip(), _worker_count(spec)


def _worker_count(spec: str) -> int:
    try:
        count = math.prod(int(part) for part in spec.lower().split("x"))
    except ValueError:
        raise ValueError(
            f"workers must look like 4x8 or 32, got {spec!r}"
        ) from None
    if count < 1:
        raise ValueError(f"workers must be at least 1, got {spec!r}")
    return count


# Sections of a capacity config and their keys; None: any key (services).
CONFIG_KEYS: dict[str, tuple[str, ...] | None] = {
    "workers": None, "capacity": ("target_utilisation",),
}


def load_settings(path: Path) -> CapacitySettings:
    """``[workers]`` service = PxT lines and ``[capacity]`` target."""
    parser = configparser.ConfigParser()
    try:
        with open(path, encoding="utf-8") as config:
            parser.read_file(config)
        _check_names(parser)
        settings = CapacitySettings()
        if parser.has_section("workers"):
            for service, spec in parser.items("workers"):
                settings.workers[service] = _worker_count(spec)
                settings.given_in[service] = (
                    f"capacity config {path} [workers] {service}")
        settings.target_utilisation = parser.getfloat(
            "capacity", "target_utilisation", fallback=DEFAULT_TARGET
        )
    except (OSError, configparser.Error, ValueError) as exc:
        raise ReportError(f"capacity config {path}: {exc}") from None
    return settings


def _check_names(parser: configparser.ConfigParser) -> None:
    """Unknown sections and keys are errors: a typo must not be ignored."""
    known = ", ".join(f"[{name}]" for name in CONFIG_KEYS)
    for section in parser.sections():
        if section not in CONFIG_KEYS:
            raise ValueError(f"unknown section [{section}] (known: {known})")
    for key in parser.defaults():
        raise ValueError(f"unknown key {key!r} in [DEFAULT] (known "
                         f"sections: {known})")
    for section, keys in CONFIG_KEYS.items():
        if keys is None or not parser.has_section(section):
            continue
        for key in parser.options(section):
            if key not in keys:
                raise ValueError(f"unknown key {key!r} in [{section}] "
                                 f"(known: {', '.join(keys)})")


@dataclasses.dataclass
class Trend:
    """A least-squares line through busy workers over time."""

    slope_per_day: float
    level_at_end: float
    # Seconds of data the line was fitted to.
    history: float

    def growth_per_week(self) -> float:
        """Fractional growth per week relative to the current level."""
        if self.level_at_end <= 0:
            return math.nan
        return 7 * self.slope_per_day / self.level_at_end

    def horizon(self, end: float) -> float:
        """The furthest date a forecast from this line may name."""
        return end + FORECAST_MULTIPLE * self.history

    def date_reaching(self, level: float, end: float) -> float | None:
        """Unix time the line crosses ``level``: None if never ahead,
        ``inf`` if not before :meth:`horizon`."""
        if self.level_at_end >= level:
            return end
        if self.slope_per_day <= 0:
            return None
        when = end + (level - self.level_at_end) / self.slope_per_day * DAY
        return when if when <= self.horizon(end) else math.inf


def fit_trend(
    times: Sequence[float], values: Sequence[float], step: float,
    first: float, last: float,
) -> Trend | str:
    """The trend of the steps inside the data's span ``[first, last]``,
    or why there is none: too short a history or too few points."""
    history = last - first
    if history < TREND_MIN_HISTORY:
        return (f"not enough history for a trend (have "
                f"{rough_duration(history)}, need "
                f"{rough_duration(TREND_MIN_HISTORY)})")
    # A step counts when most of it lies inside the data's span.
    points = [
        (t, v) for t, v in zip(times, values, strict=True)
        if not math.isnan(v) and first <= t - step / 2 <= last
    ]
    needed = math.ceil(TREND_POINTS_PER_DAY * history / DAY)
    if len(points) < needed:
        return (f"too few points for a trend (have {len(points)}, need "
                f"{needed}: use a smaller --step)")
    # Seconds from the first point keep the fit away from 1e9-sized times.
    start, end = points[0][0], points[-1][0]
    slope, intercept = statistics.linear_regression(
        [t - start for t, _ in points], [v for _, v in points]
    )
    return Trend(slope_per_day=slope * DAY,
                 level_at_end=intercept + slope * (end - start),
                 history=history)


@dataclasses.dataclass
class ServiceCapacity:
    """One service's capacity figures; None where workers are unknown."""

    service: str
    request_rate: float
    busy_workers: float
    # None when no step lies wholly inside the data.
    peak_busy_workers: float | None
    workers: int | None
    target_utilisation: float
    trend: Trend | None
    end: float
    # Why there is no trend; empty when there is one.
    trend_reason: str = ""

    @property
    def utilisation(self) -> float | None:
        return None if not self.workers else self.busy_workers / self.workers

    @property
    def peak_utilisation(self) -> float | None:
        if not self.workers or self.peak_busy_workers is None:
            return None
        return self.peak_busy_workers / self.workers

    @property
    def headroom_workers(self) -> float | None:
        return None if not self.workers else self.workers - self.busy_workers

    @property
    def saturation_rate(self) -> float | None:
        """Requests per second that keep every worker busy at this mix."""
        if not self.workers or self.busy_workers <= 0:
            return None
        return self.request_rate * self.workers / self.busy_workers

    @property
    def workers_needed(self) -> int:
        """Workers that keep today's busy time under the target."""
        return max(1, math.ceil(self.busy_workers / self.target_utilisation))

    @property
    def exceeds_target_at(self) -> float | None:
        if self.trend is None or not self.workers:
            return None
        level = self.workers * self.target_utilisation
        return self.trend.date_reaching(level, self.end)

    @property
    def runs_out_at(self) -> float | None:
        if self.trend is None or not self.workers:
            return None
        return self.trend.date_reaching(float(self.workers), self.end)
