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

"""The three applications bench_server.py serves with gunicorn.

``server_apps:bare``, ``server_apps:filtered`` (the filter, delivering to
the socket in METRICS_BENCH_SOCKET) and ``server_apps:prometheus``
(prometheus_client in multiprocess mode: PROMETHEUS_MULTIPROC_DIR must be
set for the server).  Each is the nova-shaped Routes app of bench_apps.
"""

from __future__ import annotations

import os
from typing import Any

import bench_apps

SOCKET_ENV = "METRICS_BENCH_SOCKET"
PREFIX = "/v2.1"


def __getattr__(name: str) -> Any:
    """Build only the application the server asks for."""
    app = bench_apps.nova_like_routes(prefix=PREFIX)
    if name == "bare":
        return app
    if name == "filtered":
        from oslo_metrics_middleware import MetricsMiddleware

        return MetricsMiddleware(
            app,
            {
                "service_name": bench_apps.SERVICE,
                "metrics_socket_file": os.environ[SOCKET_ENV],
            },
        )
    if name == "prometheus":
        return bench_apps.PrometheusInProcess(app, bench_apps.route_from_routes)
    raise AttributeError(name)
