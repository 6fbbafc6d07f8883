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

"""Durations like ``7d`` and instants like RFC 3339 or Unix seconds."""

from __future__ import annotations

import datetime
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0,
          "w": 604800.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str) -> float:
    """Seconds in ``text``: ``90s``, ``15m``, ``1h30m``, ``7d``, ``2w``."""
    position, total = 0, 0.0
    for match in _DURATION.finditer(text.strip()):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position == 0 or position != len(text.strip()):
        raise ValueError(f"not a duration (e.g. 90s, 15m, 7d): {text!r}")
    return total


def parse_instant(text: str, now: float) -> float:
    """Unix seconds of ``now``, Unix seconds, RFC 3339, or ``-<duration>``."""
    text = text.strip()
    if text == "now":
        return now
    if text.startswith("-"):
        return now - parse_duration(text[1:])
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"not a time (RFC 3339, Unix seconds, now or -7d): {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def promql_duration(seconds: float) -> str:
    """A PromQL range literal; milliseconds keep sub-second ranges exact."""
    return f"{max(1, round(seconds * 1000))}ms"


def iso(timestamp: float) -> str:
    """UTC RFC 3339 to the second, for humans and JSON."""
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def human_duration(seconds: float) -> str:
    """``7d``, ``3h``, ``90s``: the largest whole unit that fits."""
    for unit in ("w", "d", "h", "m"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:g}s"


def rough_duration(seconds: float) -> str:
    """``15m``, ``2.5h``, ``3d``: the largest unit reached, one decimal."""
    for unit in ("w", "d", "h", "m"):
        size = _UNITS[unit]
        if seconds >= size:
            return f"{seconds / size:.1f}".removesuffix(".0") + unit
    return f"{seconds:.0f}s"
