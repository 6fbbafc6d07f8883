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

"""The applications bench_server.py serves with gunicorn.

``server_apps:<case>_<variant>``: the case is ``routes`` (the nova-shaped
Routes app of bench_apps, nothing but routing) or ``placement`` (the real
Placement from PyPI on the SQLite database named by the configuration
file in PLACEMENT_BENCH_CONFIG); the variant is ``bare``, ``filtered``
(the filter, delivering to the socket in METRICS_BENCH_SOCKET, every
METRICS_BENCH_FLUSH_INTERVAL seconds if that is set) or
``prometheus`` (prometheus_client in multiprocess mode:
PROMETHEUS_MULTIPROC_DIR must be set for the server), ``thread`` (the
bare app in workers that run one more, idle, thread), or the two floors
of any Python middleware: ``passthrough`` (a layer that only calls the
app) and ``minimal`` (see :class:`bench_apps.MinimalMeasure`).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import bench_apps

SOCKET_ENV = "METRICS_BENCH_SOCKET"
FLUSH_INTERVAL_ENV = "METRICS_BENCH_FLUSH_INTERVAL"
PLACEMENT_CONFIG_ENV = "PLACEMENT_BENCH_CONFIG"
PREFIX = "/v2.1"


class PassThrough:
    """A middleware that only calls the app: what one Python layer costs."""

    def __init__(self, app: bench_apps.App) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


class WithIdleThread(PassThrough):
    """A pass-through layer in a worker that has one more thread, which
    never runs."""

    def __init__(self, app: bench_apps.App) -> None:
        super().__init__(app)
        self.pid = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.pid != os.getpid():  # the first request of this worker
            self.pid = os.getpid()
            threading.Thread(target=threading.Event().wait, daemon=True).start()
        return self.app(environ, start_response)


def __getattr__(name: str) -> Any:
    """Build only the application the server asks for."""
    case, _, variant = name.partition("_")
    if case == "routes":
        app = bench_apps.nova_like_routes(prefix=PREFIX)
        route_of = bench_apps.route_from_routes
    elif case == "placement":
        from tests.functional.apps import placement_app

        app = placement_app.build(os.environ[PLACEMENT_CONFIG_ENV])
        # Placement leaves no template behind: ids become {id} in the path.
        route_of = bench_apps.route_from_path
    else:
        raise AttributeError(name)
    if variant == "bare":
        return app
    if variant == "thread":
        return WithIdleThread(app)
    if variant == "passthrough":
        return PassThrough(app)
    if variant == "minimal":
        return bench_apps.MinimalMeasure(app, route_of)
    if variant == "filtered":
        from oslo_metrics_middleware import MetricsMiddleware

        conf = {
            "service_name": bench_apps.SERVICE,
            "metrics_socket_file": os.environ[SOCKET_ENV],
        }
        if FLUSH_INTERVAL_ENV in os.environ:
            conf["flush_interval"] = os.environ[FLUSH_INTERVAL_ENV]
        return MetricsMiddleware(app, conf)
    if variant == "prometheus":
        return bench_apps.PrometheusInProcess(app, route_of)
    raise AttributeError(name)
