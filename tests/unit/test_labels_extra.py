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

"""The opt-in action and microversion labels."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
import webob

from oslo_metrics_middleware.routing import extra
from tests.unit.conftest import DatagramSink
from tests.unit.conftest import make_filter
from tests.unit.conftest import rows
from tests.wsgi import call
from tests.wsgi import environ

ACTION_PATH = "/v2.1/servers/0a6e5bb3-3f4c-4b7e-9c0d-6c2a4d1f8e21/action"


@pytest.mark.parametrize(
    ("value", "label"),
    [
        ("compute 2.79", "2.79"),
        ("volume 3.0, placement 1.2", "3.0"),
        ("2.1", "2.1"),
        ("compute latest", "__other__"),
        ("compute 2.79.1", "__other__"),
        ("compute 02.1", "__other__"),
        ("", "__other__"),
        ("x" * 5000, "__other__"),
    ],
)
def test_microversion_values(value: str, label: str) -> None:
    assert extra.parse_microversion(value) == label


def test_standard_microversion_header_wins_over_legacy() -> None:
    env = {
        "HTTP_X_OPENSTACK_NOVA_API_VERSION": "2.1",
        "HTTP_OPENSTACK_API_VERSION": "compute 2.60",
    }
    assert extra.microversion_of(env) == "2.60"
    assert extra.microversion_of({"HTTP_X_OPENSTACK_NOVA_API_VERSION": "2.5"}) == "2.5"
    assert extra.microversion_of({}) == ""


@pytest.mark.parametrize(
    ("body", "action"),
    [
        (b'{"os-start": null}', "os-start"),
        (b' {\n "reboot": {"type": "HARD"}}', "reboot"),
        (b'{"os-extend": {"new_size": 3}}', "os-extend"),
        (b'{"createImage": {"name": "x"}}', "createImage"),
        (b'{"a b": 1}', "__other__"),
        (b'{"\\u0041": 1}', "__other__"),
        (b'["reboot"]', "__other__"),
        (b'{"' + b"x" * 100 + b'": 1}', "__other__"),
        (b"not json", "__other__"),
    ],
)
def test_action_names(body: bytes, action: str) -> None:
    assert extra.action_of(body) == action


def echo_body(env: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    body = webob.Request(env).body
    start_response("202 Accepted", [])
    return [body]


def test_action_label_comes_from_what_the_app_reads(sink: DatagramSink) -> None:
    mw = make_filter(echo_body, sink, action_label="true", action_peek_bytes="16")
    body = b'{"os-migrateLive": {"host": "' + b"h" * 100 + b'"}}'
    env = environ("POST", ACTION_PATH, body, HTTP_OPENSTACK_API_VERSION="compute 2.30")
    assert call(mw, env) == ("202 Accepted", body)
    call(mw, environ("POST", ACTION_PATH, b'{"reboot": {}}'))
    call(mw, environ("POST", ACTION_PATH, b'{"\xff": 1}'))
    call(mw, environ("GET", "/v2.1/servers"))
    mw.sender.flush()
    assert [row[8:] for row in rows(sink.messages())] == [
        # The name does not end within the first 16 bytes the app read.
        ["__other__", ""],
        ["reboot", ""],
        ["__other__", ""],
        ["", ""],
    ]


def test_both_labels_with_cap_and_overflow_counter(sink: DatagramSink) -> None:
    mw = make_filter(
        echo_body,
        sink,
        action_label="true",
        microversion_label="true",
        max_label_values="1",
    )
    for name, version in (("reboot", "2.1"), ("os-stop", "2.2"), ("reboot", "2.1")):
        env = environ(
            "POST",
            ACTION_PATH,
            b'{"%s": null}' % name.encode(),
            HTTP_OPENSTACK_API_VERSION=f"compute {version}",
        )
        call(mw, env)
    mw.sender.flush()
    messages = sink.messages()
    assert [row[8:] for row in rows(messages)] == [
        ["reboot", "2.1"],
        ["__overflow__", "__overflow__"],
        ["reboot", "2.1"],
    ]
    counters = {
        m["name"]: m["action"]["value"] for m in messages if m["name"] != "batch"
    }
    assert counters == {
        "openstack_api_metrics_action_overflow_total": 1,
        "openstack_api_metrics_microversion_overflow_total": 1,
    }


def test_without_the_options_rows_keep_eight_fields(sink: DatagramSink) -> None:
    mw = make_filter(echo_body, sink)
    call(mw, environ("POST", ACTION_PATH, b'{"reboot": {}}'))
    mw.sender.flush()
    [row] = rows(sink.messages())
    assert len(row) == 8
