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

"""Recording rules, burn-rate alerts and their promtool tests, per objective.

The alerts follow the multi-window, multi-burn-rate method: an alert
fires when the share of bad requests over a long window is ``burn`` times
the error budget *and* still is over a window a twelfth as long, so it
fires within minutes of a fast burn and clears soon after the burn stops.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import json
import math
from typing import Any

from oslo_metrics_middleware.collector.exposition import go_string
from oslo_metrics_middleware.report.timeparse import human_duration
from oslo_metrics_middleware.report.timeparse import rough_duration
from oslo_metrics_middleware.slo.objectives import Objective
from oslo_metrics_middleware.slo.objectives import percent_text
from oslo_metrics_middleware.slo.objectives import window_text

DURATION = "openstack_api_request_duration_seconds"
RATIO = "slo:openstack_api_request_errors:ratio_rate"
SERVER_ERRORS = 'status=~"5.."'
EVALUATION = 60.0
# Requests per step in the generated tests; any count gives the same
# ratios, a round one keeps the series readable.
TEST_REQUESTS = 1000
# A test step is a fifth of the short window: 60 steps per long window.
STEPS_PER_LONG = 60
MAX_TIME_SCALE = 300.0


@dataclasses.dataclass(frozen=True)
class Tier:
    """One alert: burn rate over a long and a short window."""

    alert: str
    # Names the tier's test file.
    slug: str
    burn: float
    long: float
    short: float
    severity: str


TIERS = (
    # 2% of a 30-day budget in an hour.
    Tier("OpenStackAPIErrorBudgetFastBurn", "fast-burn", 14.4, 3600.0, 300.0,
         "page"),
    # 5% of a 30-day budget in six hours.
    Tier("OpenStackAPIErrorBudgetSlowBurn", "slow-burn", 6.0, 21600.0, 1800.0,
         "ticket"),
)
# --all-tiers: burns too slow to notice within a day.
EXTRA_TIERS = (
    Tier("OpenStackAPIErrorBudgetDailyBurn", "daily-burn",
         3.0, 86400.0, 7200.0, "ticket"),
    Tier("OpenStackAPIErrorBudgetSteadyBurn", "steady-burn", 1.0, 259200.0,
         21600.0, "ticket"),
)


class RulesError(ValueError):
    """Objectives the rules cannot serve, or a bad time scale."""


def duration_text(seconds: float) -> str:
    """A Prometheus duration: ``5m``, ``1d``, or milliseconds."""
    if seconds == int(seconds):
        return human_duration(seconds)
    return f"{round(seconds * 1000)}ms"


def tiers_for(all_tiers: bool) -> tuple[Tier, ...]:
    return TIERS + EXTRA_TIERS if all_tiers else TIERS


def check_time_scale(scale: float) -> None:
    if not 1 <= scale <= MAX_TIME_SCALE or not math.isfinite(scale):
        raise RulesError(
            f"time scale {scale:g} must lie between 1 and "
            f"{MAX_TIME_SCALE:g} (the 5m window at least a second)")


def usable_tiers(objective: Objective,
                 tiers: Sequence[Tier]) -> tuple[list[Tier], list[str]]:
    """The tiers that can fire for ``objective``, and why others cannot."""
    longest = max(tier.long for tier in tiers)
    if objective.window < longest:
        raise RulesError(
            f"objective {objective.name}: window "
            f"{window_text(objective.window)} is shorter than the "
            f"{human_duration(longest)} alert window (use at least that)")
    kept, notes = [], []
    for tier in tiers:
        if tier.burn * objective.budget < 1:
            kept.append(tier)
            continue
        notes.append(
            f"objective {objective.name}: no {tier.alert}: a {tier.burn:g}x "
            f"burn of a {percent_text(objective.budget)} budget needs more "
            "than every request bad")
    return kept, notes


def _scope(objective: Objective) -> dict[str, str]:
    """The labels that pick the objective's requests."""
    labels = {"service": objective.service}
    if objective.method is not None:
        labels["method"] = objective.method
    if objective.route is not None:
        labels["route"] = objective.route
    return labels


def _matchers(labels: dict[str, str]) -> list[str]:
    return [f"{name}={json.dumps(value)}" for name, value in labels.items()]


def _selector(objective: Objective, *extra: str) -> str:
    return "{" + ",".join([*_matchers(_scope(objective)), *extra]) + "}"


def error_ratio(objective: Objective, window: str) -> str:
    """PromQL: the share of the objective's requests that were bad."""
    total = (f"sum(rate({DURATION}_count{_selector(objective)}"
             f"[{window}]))")
    if objective.sli == "availability":
        server_errors = _selector(objective, SERVER_ERRORS)
        errors = f"sum(rate({DURATION}_count{server_errors}[{window}]))"
        # No 5xx series at all is no error, not no data.
        return f"(\n  {errors}\n  or vector(0)\n)\n/\n{total}"
    assert objective.threshold is not None
    fast = _selector(objective, f"le={_le(objective.threshold)}")
    good = f"sum(rate({DURATION}_bucket{fast}[{window}]))"
    return f"1 - (\n  {good}\n  /\n  {total}\n)"


def _le(bound: float) -> str:
    """The ``le`` matcher's value, as the collector writes the bound."""
    return json.dumps(go_string(bound))


def rule_labels(objective: Objective) -> dict[str, str]:
    return {"slo": objective.name, "sli": objective.sli,
            **_scope(objective)}


def _threshold(objective: Objective, tier: Tier) -> str:
    return f"{tier.burn:g} * (1 - {_number(objective.target)})"


def _alert(objective: Objective, tier: Tier, scale: float) -> dict[str, Any]:
    long, short = (duration_text(tier.long / scale),
                   duration_text(tier.short / scale))
    selector = f'{{slo={json.dumps(objective.name)}}}'
    limit = _threshold(objective, tier)
    spent_in = objective.window / tier.burn
    return {
        "alert": tier.alert,
        "expr": (f"{RATIO}{long}{selector} > {limit}\n"
                 f"and\n{RATIO}{short}{selector} > {limit}"),
        # The slo label keeps each objective's alert apart in the file.
        "labels": {"severity": tier.severity, "slo": objective.name},
        "annotations": {
            "summary": (
                f"{objective.name}: {objective.service} burns its error "
                f"budget {tier.burn:g} times as fast as the objective "
                "allows"),
            "description": (
                f"Over the last {long} and the last {short}, more than "
                f"{percent_text(tier.burn * objective.budget)} of requests "
                f"were bad (objective {objective.describe()}). At this "
                f"rate the {window_text(objective.window)} error budget "
                f"is spent in {rough_duration(spent_in)}."),
        },
    }


def group(objective: Objective, tiers: Sequence[Tier],
          scale: float) -> dict[str, Any]:
    """The rule group of one objective: its ratios, then its alerts."""
    windows = sorted({w for tier in tiers for w in (tier.long, tier.short)})
    labels = rule_labels(objective)
    recordings = [
        {"record": f"{RATIO}{duration_text(w / scale)}",
         "expr": error_ratio(objective, duration_text(w / scale)),
         "labels": labels}
        for w in windows
    ]
    return {
        "name": f"openstack-api-slo-{objective.name}",
        "interval": duration_text(EVALUATION / scale),
        "rules": [*recordings,
                  *(_alert(objective, tier, scale) for tier in tiers)],
    }


def rules(objectives: Sequence[Objective], all_tiers: bool = False,
          scale: float = 1.0) -> tuple[dict[str, Any], list[str]]:
    """The rules file, and a note per alert left out."""
    check_time_scale(scale)
    groups, notes = [], []
    for objective in objectives:
        kept, why = usable_tiers(objective, tiers_for(all_tiers))
        notes += why
        groups.append(group(objective, kept, scale))
    return {"groups": groups}, notes


# The generated promtool tests.

def _values(segments: Sequence[tuple[float, int]]) -> str:
    """promtool's expanding notation for a counter that grows by ``step``
    for ``count`` steps per segment, starting at 0."""
    tokens, value, first = [], 0.0, True
    for step, count in segments:
        start = value if first else value + step
        steps = count if first else count - 1
        tokens.append(f"{_number(start)}+{_number(step)}x{steps}")
        value = start + step * steps
        first = False
    return " ".join(tokens)


def _number(value: float) -> str:
    return f"{value:.12g}"


def _input(objective: Objective,
           bad: Sequence[tuple[float, int]]) -> list[dict[str, str]]:
    """Counters of requests where ``bad`` gives the bad ones per step."""
    steps = sum(count for _, count in bad)
    labels = _scope(objective)
    # Any method and route will do for an objective that names none.
    labels.setdefault("method", "GET")
    labels.setdefault("route", "/")

    def series(name: str, **extra: str) -> str:
        inner = ",".join(_matchers({**labels, **extra}))
        return f"{DURATION}_{name}{{{inner}}}"

    good = [(TEST_REQUESTS - errors, count) for errors, count in bad]
    if objective.sli == "availability":
        return [
            {"series": series("count", status="200"),
             "values": _values(good)},
            {"series": series("count", status="500"),
             "values": _values(bad)},
        ]
    assert objective.threshold is not None
    return [
        {"series": series("count", status="200"),
         "values": _values([(TEST_REQUESTS, steps)])},
        {"series": series("bucket", status="200",
                          le=go_string(objective.threshold)),
         "values": _values(good)},
    ]


def _case(objective: Objective, tier: Tier, scale: float,
          bad: Sequence[tuple[float, int]], fires: bool) -> dict[str, Any]:
    step = tier.long / scale / STEPS_PER_LONG
    steps = sum(count for _, count in bad)
    alert = _alert(objective, tier, scale)
    expected = [{"exp_labels": {**rule_labels(objective), **alert["labels"]},
                 "exp_annotations": alert["annotations"]}] if fires else []
    return {
        "interval": duration_text(step),
        "input_series": _input(objective, bad),
        "alert_rule_test": [{
            "eval_time": duration_text(step * steps),
            "alertname": tier.alert,
            "exp_alerts": expected,
        }],
    }


def cases(objective: Objective, tier: Tier,
          scale: float) -> list[dict[str, Any]]:
    """A burn above the tier fires it; one below it, or one that stopped
    a short window ago, leaves it silent."""
    limit = tier.burn * objective.budget
    burning = 2 * limit if 2 * limit <= 1 else 1.0
    # The long window plus a fifth of it, so both windows are full.
    steps = STEPS_PER_LONG + STEPS_PER_LONG // 5
    # Stopped: no bad request for more than the short window (5 steps).
    quiet = 6
    found = [
        _case(objective, tier, scale,
              [(burning * TEST_REQUESTS, steps)], fires=True),
        _case(objective, tier, scale,
              [(limit / 2 * TEST_REQUESTS, steps)], fires=False),
    ]
    # The stopped burn shows the short window at work only while the long
    # window still holds more than the limit: 54 of its 60 steps burnt.
    if burning * (STEPS_PER_LONG - quiet) / STEPS_PER_LONG > 1.05 * limit:
        found.append(_case(
            objective, tier, scale,
            [(burning * TEST_REQUESTS, steps - quiet), (0.0, quiet)],
            fires=False))
    return found


def tests(objectives: Sequence[Objective], rules_file: str,
          all_tiers: bool = False,
          scale: float = 1.0) -> dict[str, dict[str, Any]]:
    """promtool's unit tests for ``rules_file``, a file per tier (slug ->
    file): every alert of every objective fires on a burn and stays silent
    without one.

    promtool evaluates every rule at each ``evaluation_interval`` up to
    the last ``eval_time``; a file per tier evaluates at that tier's test
    step, 72 times, rather than every minute for days.
    """
    files = {}
    for tier in tiers_for(all_tiers):
        found = []
        for objective in objectives:
            kept, _ = usable_tiers(objective, tiers_for(all_tiers))
            if tier in kept:
                found += cases(objective, tier, scale)
        if found:
            files[tier.slug] = {
                "rule_files": [rules_file],
                "evaluation_interval": duration_text(
                    tier.long / scale / STEPS_PER_LONG),
                "tests": found,
            }
    return files
