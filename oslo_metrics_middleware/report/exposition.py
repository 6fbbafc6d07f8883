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

"""Parse a collector's /metrics page: per-endpoint totals and raw samples."""

from __future__ import annotations

import collections
import dataclasses

from prometheus_client.parser import text_string_to_metric_families

DURATION = "openstack_api_request_duration_seconds"
# Families the report reads; everything else on the page is ignored.
FAMILY_PREFIX = "openstack_api_"

Sample = tuple[str, dict[str, str], float]


class ExpositionError(ValueError):
    """The scraped text is not Prometheus exposition format."""


@dataclasses.dataclass
class Endpoint:
    """Totals of one (service, method, route) since the collector started."""

    service: str
    method: str
    route: str
    requests: float = 0.0
    busy_seconds: float = 0.0
    client_errors: float = 0.0
    server_errors: float = 0.0
    buckets: dict[float, float] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(float)
    )

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.service, self.method, self.route)


def parse_page(text: str) -> tuple[set[str], list[Sample]]:
    """The API metric families declared on a page, even those without
    samples yet, and their samples, ``_created`` left out."""
    try:
        families = [family for family in text_string_to_metric_families(text)
                    if family.name.startswith(FAMILY_PREFIX)]
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise ExpositionError(f"not Prometheus text format: {exc}") from None
    return {family.name for family in families}, [
        (sample.name, dict(sample.labels), float(sample.value))
        for family in families
        for sample in family.samples
        if not sample.name.endswith("_created")
    ]


def parse_samples(text: str) -> list[Sample]:
    """The samples of the API metric families, ``_created`` left out."""
    return parse_page(text)[1]


def parse_endpoints(text: str) -> dict[tuple[str, str, str], Endpoint]:
    """Sum the duration histogram over statuses, per endpoint."""
    endpoints: dict[tuple[str, str, str], Endpoint] = {}
    for name, labels, value in parse_samples(text):
        if not name.startswith(DURATION):
            continue
        key = (
            labels.get("service", ""),
            labels.get("method", ""),
            labels.get("route", ""),
        )
        endpoint = endpoints.get(key)
        if endpoint is None:
            endpoint = endpoints[key] = Endpoint(*key)
        _add(endpoint, name, labels, value)
    return endpoints


def _add(
    endpoint: Endpoint, name: str, labels: dict[str, str], value: float
) -> None:
    if name.endswith("_bucket"):
        endpoint.buckets[float(labels["le"])] += value
    elif name.endswith("_sum"):
        endpoint.busy_seconds += value
    elif name.endswith("_count"):
        endpoint.requests += value
        status = labels.get("status", "")
        if status.startswith("4"):
            endpoint.client_errors += value
        elif status.startswith("5"):
            endpoint.server_errors += value
