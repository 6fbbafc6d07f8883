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

"""The collector's checks: every refusal has its reason, nothing is read
past the rows a sender sends."""

from __future__ import annotations

from pathlib import Path
import re
import subprocess
import sys
from typing import Any

import pytest

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware import transport
from oslo_metrics_middleware.collector import checks


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1", "bad_number"),
        (True, "bad_number"),
        (None, "bad_number"),
        (float("nan"), "not_finite"),
        (float("-inf"), "not_finite"),
        (-1, "negative"),
        (10**16, "out_of_range"),
    ],
)
def test_amounts_are_refused_by_reason(value: Any, reason: str) -> None:
    with pytest.raises(checks.Rejected, match=f"^{reason}$"):
        checks.amount(value)


def test_amounts_in_range_pass() -> None:
    assert checks.amount(0) == 0
    assert checks.amount(checks.MAX_AMOUNT) == checks.MAX_AMOUNT


def test_labels_must_be_strings_that_encode() -> None:
    assert checks.label("x" * 10_000) == "x" * 10_000  # length is the caps'
    with pytest.raises(checks.Rejected, match="label_type"):
        checks.label(5)
    with pytest.raises(checks.Rejected, match="label_encoding"):
        checks.label("\ud800")


def _columns(rows: int, keys: int = 1) -> dict[str, Any]:
    key = ["compute", "GET", "/", 200, None, None, None]
    return {"v": protocol.FORMAT_VERSION, "keys": [key] * keys,
            "k": "00" * rows, "d": [1] * rows, "i": [0] * rows, "o": [0] * rows}


def test_a_batch_holds_at_most_max_rows() -> None:
    assert len(checks.columns(_columns(protocol.MAX_ROWS))[1]) == protocol.MAX_ROWS
    for value, read in (
        (_columns(protocol.MAX_ROWS + 1), checks.columns),
        ({"v": protocol.ROWS_FORMAT_VERSION,
          "rows": [[]] * (protocol.MAX_ROWS + 1)}, checks.rows),
    ):
        with pytest.raises(checks.Rejected, match="too_many_rows") as refused:
            read(value)
        assert refused.value.rows == protocol.MAX_ROWS + 1


def test_a_batch_holds_at_most_max_keys() -> None:
    with pytest.raises(checks.Rejected, match="bad_batch") as refused:
        checks.columns(_columns(3, keys=protocol.MAX_KEYS + 1))
    assert refused.value.rows == 3


def test_the_sender_stays_within_what_the_collector_reads() -> None:
    """The rows and drop reasons a sender can send are those the collector
    takes."""
    assert transport.ROWS_PER_DATAGRAM <= protocol.MAX_ROWS
    source = Path(transport.__file__).read_text()
    sent = set(re.findall(r'DROPPED, [^,()]+, "(\w+)"', source))
    assert sent == set(protocol.DROP_REASONS)


def test_metric_definitions_import_nothing_of_the_collector() -> None:
    """openstack_api.py looks only down: ingest attaches itself to it."""
    code = (
        "import sys\n"
        "import oslo_metrics_middleware.collector.openstack_api\n"
        "print(sorted(m for m in sys.modules if '.collector.' in m))\n"
    )
    found = subprocess.run([sys.executable, "-c", code], check=True,
                           capture_output=True, text=True).stdout
    assert found.strip() == "['oslo_metrics_middleware.collector.openstack_api']"


def test_exemplars_are_request_ids_only() -> None:
    """Printable ASCII up to 64 characters, no quote or backslash."""
    for kept in ("req-0b6a9c3e-52d4-4f43-9d0e-7c1f3b2a8e61", "x", "a b",
                 "t" * 64, "~!#$%&'()*+,-./:;<=>?@[]^_`{|}"):
        assert checks.exemplar(kept) == {"request_id": kept}, kept
        assert checks.request_ids([kept, "req-1"]), kept
    for left_out in ("", "t" * 65, 'a"b', "a\\b", "a\nb", "\x7f", "\u00e9",
                     "\U0001f600", "\ud800", None, 7, ["req-1"]):
        assert checks.exemplar(left_out) is None, left_out
        if isinstance(left_out, str) and left_out:
            assert not checks.request_ids(["req-1", left_out]), left_out
