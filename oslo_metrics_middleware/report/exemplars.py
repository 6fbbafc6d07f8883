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

"""The slowest recent requests per endpoint, from the engine's exemplars.

The collector attaches the request id to each duration observation as an
OpenMetrics exemplar; Prometheus with ``--enable-feature=exemplar-storage``
keeps the latest ones in a ring buffer and serves them at
``/api/v1/query_exemplars``.  Engines without exemplar storage answer with
an error or nothing, and the report just lists no request ids.
"""

from __future__ import annotations

import math
from typing import Any

from oslo_metrics_middleware.report.model import EndpointKey
from oslo_metrics_middleware.report.model import ReportError
from oslo_metrics_middleware.report.model import SlowRequest

REQUEST_ID = "request_id"
# Request ids listed per endpoint.
LIMIT = 5


def slowest(
    answer: Any, limit: int = LIMIT
) -> dict[EndpointKey, list[SlowRequest]]:
    """The ``limit`` slowest distinct request ids per endpoint from a
    ``query_exemplars`` answer (a list of series with exemplars)."""
    found: dict[EndpointKey, dict[str, SlowRequest]] = {}
    if not isinstance(answer, list):
        raise ReportError("query_exemplars answered without a list")
    for series in answer:
        labels = series.get("seriesLabels") or {}
        key = (labels.get("service", ""), labels.get("method", ""),
               labels.get("route", ""))
        mine = found.setdefault(key, {})
        for exemplar in series.get("exemplars") or []:
            request = _request(exemplar)
            if request is None:
                continue
            known = mine.get(request.request_id)
            if known is None or known.seconds < request.seconds:
                mine[request.request_id] = request
    return {
        key: sorted(requests.values(), key=lambda r: (-r.seconds, -r.time))[
            :limit]
        for key, requests in found.items() if requests
    }


def _request(exemplar: Any) -> SlowRequest | None:
    request_id = (exemplar.get("labels") or {}).get(REQUEST_ID)
    try:
        seconds = float(exemplar["value"])
        time = float(exemplar["timestamp"])
    except (KeyError, TypeError, ValueError):
        return None
    if not request_id or math.isnan(seconds):
        return None
    return SlowRequest(str(request_id), seconds, time)
