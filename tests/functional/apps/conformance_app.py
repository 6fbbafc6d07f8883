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

"""The conformance app as servers load it: ``conformance_app:application``.

Bare, or behind the metrics filter when ``CONFORMANCE_SOCKET`` names the
filter's socket; either way logged (see ``conformance.observed``).
"""

from __future__ import annotations

import os
from typing import Any

from oslo_metrics_middleware import MetricsMiddleware
from tests.functional.apps.conformance import SOCKET_ENV
from tests.functional.apps.conformance import app
from tests.functional.apps.conformance import observed


def build() -> Any:
    """The app for this server start, from the environment."""
    socket_path = os.environ.get(SOCKET_ENV)
    if not socket_path:
        return observed(app)
    return observed(MetricsMiddleware(app, {
        "metrics_socket_file": socket_path,
        "service_name": "conformance",
        "action_label": "true",
        "microversion_label": "true",
        "flush_interval": "0.05",
    }))


application = build()
