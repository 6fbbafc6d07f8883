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

"""The oslo.metrics datagram format, as this project uses it.

Every datagram is one oslo.metrics ``Metric`` in JSON, so the unmodified
upstream daemon parses and dispatches it.  Request samples travel many to a
datagram: the ``batch`` metric of the collector module takes a list of rows
with ``observe``.  Counters this project keeps in the sender (drops, route
overflow) use the plain one-metric form with ``inc``.
"""

from __future__ import annotations

import json
from typing import Any

# The daemon finds a metric module by the last component of its dotted path.
MODULE = "openstack_api"
BATCH = "batch"
FORMAT_VERSION = 1

# The daemon reads with recv(65565); keep every datagram well below it.
MAX_DATAGRAM = 60_000


# One measured API request.  A plain tuple: it is built on every request,
# and a named tuple costs ten times as much to create.  With the opt-in
# action or microversion label a row carries those two more fields; the
# collector takes both lengths, so FORMAT_VERSION stays 1.
# Either may end with one more field, the request id, for the exemplar.
BaseSample = tuple[str, str, str, int, float, int, int, str | None]
LabelledSample = tuple[str, str, str, int, float, int, int, str | None, str, str]
Sample = (
    BaseSample
    | LabelledSample
    | tuple[str, str, str, int, float, int, int, str | None, str]
    | tuple[str, str, str, int, float, int, int, str | None, str, str, str]
)
SAMPLE_FIELDS = (
    "service",
    "method",
    "route",
    "status",
    "duration",
    "request_bytes",
    "response_bytes",
    "exception",
)
EXTRA_FIELDS = ("action", "microversion")
REQUEST_ID_FIELD = "request_id"

# Counters of label values beyond max_label_values.
ACTION_OVERFLOW = "openstack_api_metrics_action_overflow_total"
MICROVERSION_OVERFLOW = "openstack_api_metrics_microversion_overflow_total"


_SEPARATORS = (",", ":")


def encode_batch(samples: list[Sample]) -> bytes:
    """One datagram carrying ``samples`` for the collector's batch metric."""
    message = {
        "module": MODULE,
        "name": BATCH,
        "action": {
            "action": "observe",
            "value": {"v": FORMAT_VERSION, "rows": samples},
        },
        "labels": {},
    }
    return json.dumps(message, separators=_SEPARATORS).encode()


def encode_increment(name: str, amount: int, labels: dict[str, str]) -> bytes:
    """One datagram adding ``amount`` to the counter ``name``."""
    message: dict[str, Any] = {
        "module": MODULE,
        "name": name,
        "action": {"action": "inc", "value": amount},
        "labels": labels,
    }
    return json.dumps(message, separators=_SEPARATORS).encode()


def split_for_datagrams(samples: list[Sample]) -> list[tuple[bytes, int]]:
    """Encode ``samples`` as datagrams of at most MAX_DATAGRAM bytes.

    Each datagram comes with the number of samples it carries.
    """
    if not samples:
        return []
    encoded = encode_batch(samples)
    if len(encoded) <= MAX_DATAGRAM or len(samples) == 1:
        return [(encoded, len(samples))]
    half = len(samples) // 2
    return split_for_datagrams(samples[:half]) + split_for_datagrams(samples[half:])
