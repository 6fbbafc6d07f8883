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

"""The projects that drive each service's load, over the report's range.

The collector names at most ``top_projects`` projects per service and
counts every other one under ``__other__`` (see metrics.rst), so a share
here is of every request that carried a project, ``__other__`` included.
"""

from __future__ import annotations

import dataclasses

OTHER = "__other__"
PROJECT_REQUESTS = "openstack_api_project_requests_total"
PROJECT_BUSY = "openstack_api_project_busy_seconds_total"
# Where each counter's increase goes in RawData.projects' pairs.
FIELDS = {PROJECT_REQUESTS: 0, PROJECT_BUSY: 1}


@dataclasses.dataclass(frozen=True)
class ProjectShare:
    """One project's part of a service's requests and busy time."""

    service: str
    project: str
    requests: float
    request_share: float | None
    busy_seconds: float
    busy_share: float | None


def shares(counted: dict[tuple[str, str], list[float]]) -> list[ProjectShare]:
    """Per service (sorted), its projects by requests, ``__other__`` last.

    ``counted`` maps (service, project) to [requests, busy seconds].
    """
    totals: dict[str, list[float]] = {}
    for (service, _), (requests, busy) in counted.items():
        total = totals.setdefault(service, [0.0, 0.0])
        total[0] += requests
        total[1] += busy
    rows = []
    for (service, project), (requests, busy) in counted.items():
        total_requests, total_busy = totals[service]
        rows.append(
            ProjectShare(
                service,
                project,
                requests,
                requests / total_requests if total_requests else None,
                busy,
                busy / total_busy if total_busy else None,
            )
        )
    rows.sort(key=lambda r: (r.service, r.project == OTHER, -r.requests, r.project))
    return [row for row in rows if row.requests or row.busy_seconds]


def add(
    counted: dict[tuple[str, str], list[float]],
    name: str,
    labels: dict[str, str],
    amount: float,
) -> None:
    """Add an increase of one of the two project counters."""
    key = (labels.get("service", ""), labels.get("project", ""))
    counted.setdefault(key, [0.0, 0.0])[FIELDS[name]] += amount
