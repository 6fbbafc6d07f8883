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

"""The collector's caps: true maxima, folds reported one per label."""

from __future__ import annotations

import itertools

from oslo_metrics_middleware.collector import caps
from oslo_metrics_middleware.routing.labels import OVERFLOW


def test_request_series_never_exceed_the_limit() -> None:
    """Whatever arrives, label sets held and room kept stay within it."""
    for limit, classes in ((20, 5), (23, 5), (20, 1)):
        series = caps.RequestSeries(limit, 1 << 20, classes, 2)
        made: set[tuple[str, ...]] = set()
        for service, route, status in itertools.product(
            ("a", "b", "c", OVERFLOW), range(30), range(1, 6)
        ):
            labels = (service, f"/r{route}", f"{status}xx")
            if series.full(service, labels) is not None:
                # One fallback per status class, or one in all.
                tail = (f"{status}xx",) if classes == 5 else ()
                labels = series.fallback(service, OVERFLOW, *tail)
            made.add(labels)
        assert len(made) <= limit, (limit, classes)
        # One service's fallbacks and __overflow__'s are always there.
        assert len(made) >= limit - 2 * classes


def test_a_service_keeps_its_own_fallback_once_it_has_a_label_set() -> None:
    series = caps.RequestSeries(20, 1 << 20, 5, 2)
    assert series.full("compute", ("compute", "/a")) is None
    for route in range(20):
        series.full("compute", ("compute", f"/r{route}"))
    assert series.fallback("compute", OVERFLOW) == ("compute", OVERFLOW)
    assert series.full("image", ("image", "/i")) == "series"
    assert series.fallback("image", OVERFLOW) == (OVERFLOW, OVERFLOW)


def test_request_label_bytes_never_exceed_the_budget() -> None:
    """Label bytes held, fallbacks included, stay within the budget,
    whatever the lengths and order of what arrives."""
    for budget, classes in ((900, 5), (901, 5), (300, 1)):
        series = caps.RequestSeries(1000, budget, classes, 2)
        made: set[tuple[str, ...]] = set()
        for route, service in itertools.product(range(40), ("a", "bb", OVERFLOW)):
            route_label = "/" + "\U0001f600" * (route % 7)
            labels = (service, route_label, f"{route % 5 + 1}xx")
            cap = series.full(service, labels)
            if cap is not None:
                assert cap == "bytes"
                tail = (labels[2],) if classes == 5 else ()
                labels = series.fallback(service, OVERFLOW, *tail)
            made.add(labels)
        assert series.held_bytes <= budget
        assert sum(caps.label_bytes(labels[:2]) for labels in made) <= budget


def test_label_values_are_bounded_in_bytes() -> None:
    bound = caps.Caps(caps.Limits(max_label_bytes=8))
    assert bound.fits("x" * 8)
    assert not bound.fits("x" * 9)
    assert bound.fits("\u00e9" * 4)  # two bytes each
    assert not bound.fits("\u00e9" * 5)
    folds: caps.Folds = []
    assert bound.service("x" * 9, folds) == OVERFLOW
    assert bound.service("short", folds) == "short"
    assert folds == [(OVERFLOW, "service")]


def test_each_fold_is_reported_once_with_its_label() -> None:
    capped = caps.Caps(caps.Limits(max_routes=1, max_request_series=20))
    folds: caps.Folds = []
    first = capped.request("s", "GET", "/a", 200, ("act", "2.1"), "E", folds)
    assert folds == []
    assert first == caps.RequestSets(
        ("s", "GET", "/a", "200"), ("s", "GET", "/a", "act", "2.1", "200"),
        ("s", "GET", "/a", "E"),
    )
    capped.request("s", "GET", "/b", 200, (), None, folds)
    assert folds == [("s", "route")]


def test_request_series_fill_to_exactly_their_limit() -> None:
    """With room kept for its own and __overflow__'s five fallbacks, a
    service fills 20 label sets with 10 of its own, and no new service
    then fits."""
    series = caps.RequestSeries(20, 1 << 20, 5, 2)
    answers = [series.full("a", ("a", f"/r{route}")) for route in range(12)]
    assert answers == [None] * 10 + ["series"] * 2
    assert series.full("b", ("b", "/r0")) == "series"
    assert series.full("a", ("a", "/r9")) is None  # held already


def test_request_label_bytes_fill_to_exactly_their_budget() -> None:
    """Budget 43 bytes: 24 kept for __overflow__'s fallback
    ("__overflow__", "__overflow__"), 13 for service a's ("a",
    "__overflow__"), 6 left for two label sets ("a", "/x") of 3 bytes."""
    series = caps.RequestSeries(1000, 43, 1, 2)
    assert series.full("a", ("a", "/xyzabcd")) == "bytes"
    assert series.full("a", ("a", "/x")) is None
    assert series.held_bytes == 3
    assert series.full("a", ("a", "/y")) is None
    assert series.held_bytes == 6
    assert series.full("a", ("a", "/z")) == "bytes"


def test_a_request_past_the_series_cap_lands_in_its_fallbacks() -> None:
    """Room for 11 label sets: the first request of a service takes one,
    its five status-class fallbacks and __overflow__'s five the rest."""
    capped = caps.Caps(caps.Limits(max_request_series=11))
    folds: caps.Folds = []
    capped.request("s", "GET", "/a", 200, ("act", "2.1"), "E", folds)
    assert folds == []
    later = capped.request("s", "PUT", "/b", 503, ("go", "2.2"), "F", folds)
    assert later == caps.RequestSets(
        ("s", OVERFLOW, OVERFLOW, "5xx"),
        ("s", OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW, "5xx"),
        ("s", OVERFLOW, OVERFLOW, "F"),
    )
    # Counted once for the series cap, whichever metrics it folded.
    assert folds == [("s", "series")]


def test_each_folded_label_is_reported_with_its_service() -> None:
    capped = caps.Caps(caps.Limits(max_label_values=1, max_routes=1))
    folds: caps.Folds = []
    capped.request("s", "GET", "/a", 200, ("act", "2.1"), "E", folds)
    later = capped.request("s", "PUT", "/a", 200, ("go", "2.2"), "F", folds)
    assert later == caps.RequestSets(
        ("s", OVERFLOW, "/a", "200"),
        ("s", OVERFLOW, "/a", OVERFLOW, OVERFLOW, "200"),
        ("s", OVERFLOW, "/a", OVERFLOW),
    )
    assert folds == [
        ("s", "method"), ("s", "action"), ("s", "microversion"), ("s", "exception"),
    ]


def test_an_exception_past_the_series_cap_lands_in_its_fallback() -> None:
    """Room for 11 exception label sets: one kept for the service's
    fallback and one for __overflow__'s leaves 9."""
    capped = caps.Caps(caps.Limits(max_request_series=11))
    folds: caps.Folds = []
    failed = [
        capped.request("s", "GET", "/a", 500, (), f"E{number}", folds).exception
        for number in range(10)
    ]
    assert failed == [("s", "GET", "/a", f"E{number}") for number in range(9)] + [
        ("s", OVERFLOW, OVERFLOW, OVERFLOW)
    ]
    assert folds == [("s", "series")]


def test_a_value_named_overflow_takes_no_room() -> None:
    """__overflow__ is held from the start by every label cap: a sender
    naming it does not take the one slot of a cap of one."""
    capped = caps.Caps(caps.Limits(max_services=1, max_routes=1, max_label_values=1))
    folds: caps.Folds = []
    assert capped.service(OVERFLOW, folds) == OVERFLOW
    assert capped.service("s", folds) == "s"
    capped.request("s", OVERFLOW, OVERFLOW, 200, (OVERFLOW,) * 2, OVERFLOW, folds)
    sets = capped.request("s", "GET", "/a", 200, ("act", "2.1"), "E", folds)
    assert sets == caps.RequestSets(
        ("s", "GET", "/a", "200"),
        ("s", "GET", "/a", "act", "2.1", "200"),
        ("s", "GET", "/a", "E"),
    )
    assert folds == []


def _first(
    budget: int, extra: tuple[str, ...], exception: str | None
) -> caps.RequestSets:
    capped = caps.Caps(caps.Limits(max_request_label_bytes=budget))
    return capped.request("s", "GET", "/a", 200, extra, exception, [])


def test_each_request_metric_counts_its_free_label_bytes() -> None:
    """The bytes of service, method and route (and action and microversion,
    or exception name), plus the room kept for __overflow__'s and the
    service's fallbacks, fill the budget exactly; the status is not
    counted.  Durations: 6 bytes, fallbacks 5 x 36 and 5 x 25.  Actions:
    12 bytes, fallbacks 5 x 60 and 5 x 49.  Exceptions (past a duration
    folded into __overflow__'s fallback: __overflow__ three times and
    "E"): 37 bytes, fallbacks 48 and 37."""
    assert _first(311, (), None).duration == ("s", "GET", "/a", "200")
    assert _first(310, (), None).duration == (OVERFLOW, OVERFLOW, OVERFLOW, "2xx")
    assert _first(557, ("act", "2.1"), None).action == (
        "s", "GET", "/a", "act", "2.1", "200"
    )
    assert _first(556, ("act", "2.1"), None).action == (
        OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW, "2xx"
    )
    assert _first(122, (), "E").exception == (OVERFLOW, OVERFLOW, OVERFLOW, "E")
    assert _first(121, (), "E").exception == (OVERFLOW,) * 4
