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

"""The opt-in ``microversion`` and ``action`` labels.

Both come from what the client sent, so both are checked against a strict
shape (anything else is ``__other__``) and capped per process like routes.
"""

from __future__ import annotations

import re
from typing import Any

from oslo_metrics_middleware.routing import labels

# Standard header first; then the legacy per-service ones still accepted.
MICROVERSION_HEADERS = (
    "HTTP_OPENSTACK_API_VERSION",
    "HTTP_X_OPENSTACK_NOVA_API_VERSION",
    "HTTP_X_OPENSTACK_IRONIC_API_VERSION",
    "HTTP_X_OPENSTACK_MANILA_API_VERSION",
)
_MICROVERSION = re.compile(r"[1-9]\d{0,2}\.\d{1,4}")
# '{"os-start": null}': the first key of a JSON object, when it looks like
# an action name (no escapes, no spaces, short).
_ACTION_KEY = re.compile(rb'\A\s*\{\s*"([A-Za-z][A-Za-z0-9_-]{0,63})"\s*:')
ACTION_SUFFIX = "/action"
# What a request that carries no such label gets.
ABSENT = ""


def microversion_of(environ: dict[str, Any]) -> str:
    """``2.79`` from ``OpenStack-API-Version: compute 2.79``.

    Of several services in one header the first counts.
    """
    for header in MICROVERSION_HEADERS:
        value = environ.get(header)
        if value is not None:
            return parse_microversion(value)
    return ABSENT


def parse_microversion(value: str) -> str:
    """The ``N.M`` of a header value, ``__other__`` when there is none."""
    words = value[:64].split(",", 1)[0].split()
    if words and _MICROVERSION.fullmatch(words[-1]):
        return words[-1]
    return labels.OTHER


def is_action_request(environ: dict[str, Any]) -> bool:
    """A POST to ``.../action`` whose body says which action."""
    return environ.get("REQUEST_METHOD") == "POST" and environ.get(
        "PATH_INFO", ""
    ).rstrip("/").endswith(ACTION_SUFFIX)


def action_of(head: bytes) -> str:
    """The action name from the first bytes of a JSON body."""
    match = _ACTION_KEY.match(head)
    return match.group(1).decode("ascii") if match else labels.OTHER


class ExtraLabels:
    """Caps for the two labels; values beyond a cap become __overflow__."""

    def __init__(self, limit: int) -> None:
        reserved = (ABSENT, labels.OTHER, labels.OVERFLOW)
        self.actions = labels.LabelCap(limit, reserved=reserved)
        self.microversions = labels.LabelCap(limit, reserved=reserved)
