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

"""Recording capped rows: the children of each label set, kept only for
rows admitted unchanged, and what one row adds to each metric."""

from __future__ import annotations

import uuid

import prometheus_client

from oslo_metrics_middleware.collector import openstack_api as api
from oslo_metrics_middleware.collector import record
from oslo_metrics_middleware.collector.caps import RequestSets
from oslo_metrics_middleware.routing.labels import OVERFLOW

KEY = ("rec", "POST", "/things/{id}/action", 500)
EXTRA = ("go", "2.5")


def _sets(service: str = "rec") -> RequestSets:
    """The label sets of KEY, EXTRA and exception "E", admitted unchanged."""
    labels = (service, "POST", "/things/{id}/action")
    return RequestSets((*labels, "500"), (*labels, *EXTRA, "500"), (*labels, "E"))


def _expected(sets: RequestSets) -> record.Targets:
    """The children of ``sets``, as prometheus_client hands them out."""
    route = sets.duration[:3]
    assert sets.action is not None and sets.exception is not None
    return (
        (
            api.openstack_api_request_duration_seconds.labels(*sets.duration),
            api.openstack_api_request_size_bytes.labels(*route),
            api.openstack_api_response_size_bytes.labels(*route),
        ),
        api.openstack_api_action_duration_seconds.labels(*sets.action),
        api.openstack_api_exceptions.labels(*sets.exception),
    )


def test_a_row_admitted_unchanged_is_found_again() -> None:
    children = record.Children()
    assert children.find(KEY, EXTRA, "E") is None
    made = children.of(_sets(), KEY, EXTRA, "E")
    assert made == _expected(_sets())
    assert children.find(KEY, EXTRA, "E") == made
    # The same labels without action or exception find the same children
    # of the three histograms, and nothing else.
    plain = children.of(RequestSets(_sets().duration, None, None), KEY, (), None)
    assert plain == (made[0], None, None)
    assert children.find(KEY, (), None) == plain


def test_an_action_or_exception_not_seen_is_not_found() -> None:
    children = record.Children()
    children.of(RequestSets(_sets().duration, None, None), KEY, (), None)
    assert children.find(KEY, EXTRA, None) is None
    assert children.find(KEY, (), "E") is None
    assert children.find(KEY, ("stop", "2.5"), None) is None
    children.of(_sets(), KEY, EXTRA, "E")
    assert children.find(KEY, EXTRA, "F") is None
    assert children.find(KEY, ("stop", "2.5"), "E") is None


def test_a_folded_row_is_recorded_but_not_kept() -> None:
    """Labels changed by a cap are looked up each time: the next row of
    the same labels may fit after all, or fold another way."""
    folded = RequestSets(
        ("rec", OVERFLOW, OVERFLOW, "5xx"),
        ("rec", OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW, "5xx"),
        ("rec", OVERFLOW, OVERFLOW, OVERFLOW),
    )
    children = record.Children()
    assert children.of(folded, KEY, EXTRA, "E") == _expected(folded)
    assert children.find(KEY, (), None) is None
    # Only the exception was folded: the rest is kept.
    sets = _sets()
    partly = RequestSets(sets.duration, sets.action, folded.exception)
    children.of(partly, KEY, EXTRA, "E")
    assert children.find(KEY, EXTRA, None) is not None
    assert children.find(KEY, EXTRA, "E") is None
    # Only the action was folded.
    other = record.Children()
    other.of(RequestSets(sets.duration, folded.action, sets.exception), KEY, EXTRA, "E")
    assert other.find(KEY, (), "E") is not None
    assert other.find(KEY, EXTRA, "E") is None


def _sample(name: str, labels: dict[str, str]) -> prometheus_client.Sample:
    [found] = [
        sample
        for family in prometheus_client.REGISTRY.collect()
        for sample in family.samples
        if sample.name == name and sample.labels == labels
    ]
    return found


def _value(name: str, labels: dict[str, str]) -> float:
    value = prometheus_client.REGISTRY.get_sample_value(name, labels)
    return value or 0.0


def test_one_row_adds_to_each_metric() -> None:
    service = "rec-observe"
    sets = _sets(service)
    targets = record.Children().of(sets, (service, *KEY[1:]), EXTRA, "E")
    route = dict(zip(("service", "method", "route"), sets.duration, strict=False))
    watched = {
        "duration": ("openstack_api_request_duration_seconds_sum", {
            **route, "status": "500"
        }),
        "request": ("openstack_api_request_size_bytes_sum", route),
        "response": ("openstack_api_response_size_bytes_sum", route),
        "action": ("openstack_api_action_duration_seconds_sum", {
            **route, "action": "go", "microversion": "2.5", "status": "500"
        }),
        "exceptions": ("openstack_api_exceptions_total", {
            **route, "exception": "E"
        }),
    }
    before = {key: _value(*where) for key, where in watched.items()}
    # A new id each run: the process's registry keeps the last exemplar.
    request_id = f"req-{uuid.uuid4().hex}"
    record.observe(targets, 0.25, 40.0, 700.0, {"request_id": request_id})
    added = {key: _value(*where) - before[key] for key, where in watched.items()}
    assert added == {
        "duration": 0.25, "request": 40.0, "response": 700.0, "action": 0.25,
        "exceptions": 1.0,
    }
    bucket = _sample("openstack_api_request_duration_seconds_bucket", {
        **route, "status": "500", "le": "0.25"
    })
    assert bucket.exemplar is not None
    assert bucket.exemplar.labels == {"request_id": request_id}
    assert bucket.exemplar.value == 0.25
