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
