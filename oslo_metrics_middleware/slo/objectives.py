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

"""The objectives file: what share of requests must be good, per service.

An INI file, like the report's ``--capacity-config``; one section per
objective::

    [objective:compute-availability]
    service = compute
    sli = availability
    target = 99.9%
    window = 28d

    [objective:compute-list-latency]
    service = compute
    method = GET
    route = /v2.1/servers/detail
    sli = latency
    threshold = 250ms
    target = 99%

``availability`` counts a request good unless its status is 5xx;
``latency`` counts it good when it took at most ``threshold``, which must
be a bucket bound of the duration histogram so that Prometheus and the
report count exactly, without interpolating inside a bucket.
"""

from __future__ import annotations

import configparser
import dataclasses
import math
from pathlib import Path
import re

from oslo_metrics_middleware.collector.openstack_api import DURATION_BUCKETS
from oslo_metrics_middleware.middleware import KNOWN_METHODS
from oslo_metrics_middleware.middleware import OTHER_METHOD
from oslo_metrics_middleware.report.timeparse import human_duration
from oslo_metrics_middleware.report.timeparse import parse_duration

SECTION_PREFIX = "objective:"
SLIS = ("availability", "latency")
KEYS = ("service", "method", "route", "sli", "threshold", "target", "window")
DEFAULT_WINDOW = "28d"
# The name goes into rule labels and file names: keep it plain.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
METHODS = (*sorted(KNOWN_METHODS), OTHER_METHOD)


class ObjectivesError(ValueError):
    """A mistake in the objectives file, reported as one line."""


@dataclasses.dataclass(frozen=True)
class Objective:
    """One objective: which requests, what counts as good, how many."""

    name: str
    service: str
    sli: str
    # A share in (0, 1): 0.999 for 99.9%.
    target: float
    # The share allowed to be bad, 0.001 for 99.9%: from the percentage as
    # written, since 1 - 0.9 is not 0.1 in binary floating point.
    budget: float
    window: float
    method: str | None = None
    route: str | None = None
    # Seconds, one of DURATION_BUCKETS; latency objectives only.
    threshold: float | None = None

    def matches(self, service: str, method: str, route: str) -> bool:
        """Whether an endpoint's requests count for this objective."""
        return (service == self.service
                and self.method in (None, method)
                and self.route in (None, route))

    def describe(self) -> str:
        """``compute GET /v2.1/servers: 99% under 250ms over 28d``."""
        scope = " ".join(part for part in (
            self.service, self.method, self.route) if part)
        good = ("not 5xx" if self.sli == "availability"
                else f"at most {seconds_text(self.threshold or 0.0)}")
        return (f"{scope}: {percent_text(self.target)} {good} over "
                f"{window_text(self.window)}")


def seconds_text(seconds: float) -> str:
    """``250ms``, ``2.5s``: how a bucket bound is written in the file."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


def window_text(seconds: float) -> str:
    """``28d`` rather than ``4w``: objectives are written in days."""
    if seconds % 86400 == 0:
        return f"{seconds / 86400:.0f}d"
    return human_duration(seconds)


def percent_text(share: float) -> str:
    return f"{100 * share:.6g}%"


def load(path: Path) -> list[Objective]:
    """Every objective of the file, in file order."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as source:
            parser.read_file(source)
        objectives = [_objective(parser, section)
                      for section in parser.sections()]
        for key in parser.defaults():
            raise ObjectivesError(f"unknown key {key!r} in [DEFAULT] "
                                  "(keys belong in [objective:NAME])")
    except OSError as exc:
        raise ObjectivesError(
            f"objectives {path}: {exc.strerror}") from None
    except (configparser.Error, ObjectivesError) as exc:
        message = str(exc).replace("\n", " ")
        raise ObjectivesError(f"objectives {path}: {message}") from None
    if not objectives:
        raise ObjectivesError(
            f"objectives {path}: no [objective:NAME] section")
    return objectives


def _objective(parser: configparser.ConfigParser, section: str) -> Objective:
    name = section.removeprefix(SECTION_PREFIX)
    if not section.startswith(SECTION_PREFIX):
        raise ObjectivesError(f"unknown section [{section}] (objectives are "
                              "[objective:NAME] sections)")
    if not NAME.fullmatch(name):
        raise ObjectivesError(
            f"[{section}]: the name must be letters, digits, '_', '.' or "
            "'-', starting with a letter or digit")
    values = dict(parser.items(section))
    for key in values:
        if key not in KEYS:
            raise ObjectivesError(f"[{section}]: unknown key {key!r} "
                                  f"(known: {', '.join(KEYS)})")
    where = f"[{section}]"
    for key in ("service", "sli", "target"):
        if not values.get(key, "").strip():
            raise ObjectivesError(f"{where}: {key} is required")
    sli = values["sli"].strip()
    if sli not in SLIS:
        raise ObjectivesError(f"{where}: sli {sli!r} is not one of "
                              f"{', '.join(SLIS)}")
    percent = _target(where, values["target"])
    return Objective(
        name=name,
        service=values["service"].strip(),
        sli=sli,
        target=percent / 100,
        budget=(100 - percent) / 100,
        window=_window(where, values.get("window", DEFAULT_WINDOW)),
        method=_method(where, values.get("method")),
        route=_optional(where, "route", values.get("route")),
        threshold=_threshold(where, sli, values.get("threshold")),
    )


def _optional(where: str, key: str, text: str | None) -> str | None:
    if text is None:
        return None
    if not text.strip():
        raise ObjectivesError(f"{where}: {key} is empty (leave it out to "
                              "cover every value)")
    return text.strip()


def _method(where: str, text: str | None) -> str | None:
    method = _optional(where, "method", text)
    if method is not None and method not in METHODS:
        raise ObjectivesError(f"{where}: method {method!r} is not a method "
                              f"label (allowed: {', '.join(METHODS)})")
    return method


def _target(where: str, text: str) -> float:
    """The target as a percentage."""
    number = text.strip().removesuffix("%").strip()
    try:
        percent = float(number)
    except ValueError:
        raise ObjectivesError(f"{where}: target {text.strip()!r} is not a "
                              "percentage such as 99.9%") from None
    if not 0 < percent < 100 or not math.isfinite(percent):
        raise ObjectivesError(f"{where}: target {text.strip()!r} must lie "
                              "strictly between 0% and 100%")
    return percent


def _window(where: str, text: str) -> float:
    try:
        seconds = parse_duration(text.strip())
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise ObjectivesError(f"{where}: window {text.strip()!r} is not a "
                              "duration such as 28d, 4w or 720h")
    return seconds


def _threshold(where: str, sli: str, text: str | None) -> float | None:
    if sli != "latency":
        if text is not None:
            raise ObjectivesError(f"{where}: threshold applies to "
                                  "sli = latency only")
        return None
    allowed = ", ".join(map(seconds_text, DURATION_BUCKETS))
    if text is None or not text.strip():
        raise ObjectivesError(f"{where}: threshold is required for "
                              f"sli = latency (one of {allowed})")
    try:
        seconds = parse_duration(text.strip())
    except ValueError:
        seconds = math.nan
    for bound in DURATION_BUCKETS:
        if math.isclose(seconds, bound, rel_tol=1e-9):
            return bound
    raise ObjectivesError(
        f"{where}: threshold {text.strip()!r} is not a bucket bound of "
        f"openstack_api_request_duration_seconds (allowed: {allowed})")
