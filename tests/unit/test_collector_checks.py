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


def _message(**change: Any) -> dict[str, Any]:
    message = {
        "module": "oslo_metrics_middleware",
        "name": "batch",
        "action": {"action": "observe", "value": 1},
        "labels": {},
    }
    message.update(change)
    return message


def _verdict(check: Any, value: Any) -> tuple[str, int]:
    with pytest.raises(checks.Rejected) as refused:
        check(value)
    return refused.value.reason, refused.value.rows


_BEYOND_ROWS = "00" * (protocol.MAX_ROWS + 1)


def _packed(**change: Any) -> dict[str, Any]:
    """A format 3 batch of two rows, with ``change`` written as given."""
    key = ["compute", "GET", "/", 200, None, None, None]
    value = {"v": 3, "keys": [key], "k": "0000", "n": "00" * 48}
    value.update(change)
    return value


@pytest.mark.parametrize(
    ("check", "value", "verdict"),
    [
        (checks.fields, "not a message", ("bad_message", 0)),
        (checks.fields, _message(module=1), ("bad_message", 0)),
        (checks.fields, _message(name=1), ("bad_message", 0)),
        (checks.fields, _message(action=["value"]), ("bad_message", 0)),
        (checks.fields, _message(labels=["value"]), ("bad_message", 0)),
        (checks.fields, _message(action={"action": "inc"}), ("bad_message", 0)),
        (checks.fields, _message(action={"action": "set", "value": 1}),
         ("bad_action", 0)),
        (checks.amount, -0.5, ("negative", 0)),
        (checks.label, 1, ("label_type", 0)),
        (checks.label, "\ud800", ("label_encoding", 0)),
        (checks.status, "200", ("bad_status", 0)),
        (checks.status, 99, ("bad_status", 0)),
        (checks.status, 600, ("bad_status", 0)),
        (checks.rows, {"v": 99, "rows": [[], [], []]}, ("bad_batch", 3)),
        (checks.rows, {"v": protocol.ROWS_FORMAT_VERSION, "rows": "x"},
         ("bad_batch", 0)),
        (checks.rows,
         {"v": 1, "rows": [[]] * (protocol.MAX_ROWS + 1)},
         ("too_many_rows", protocol.MAX_ROWS + 1)),
        (checks.columns, {"k": _BEYOND_ROWS},
         ("too_many_rows", protocol.MAX_ROWS + 1)),
        # One character short of a row more: read (and refused as unreadable),
        # not counted as a row too many.
        (checks.columns, {"k": _BEYOND_ROWS[:-1], "d": [1, 2]}, ("bad_batch", 2)),
        # Format 3: refused whole, losing the rows its key indexes number.
        (checks.columns, {"v": 3, "k": _BEYOND_ROWS, "n": ""},
         ("too_many_rows", protocol.MAX_ROWS + 1)),
        (checks.columns, _packed(n="zz" * 48), ("bad_batch", 2)),
        (checks.columns, _packed(n="00" * 47), ("bad_batch", 2)),
        (checks.columns, _packed(n="00" * 49), ("bad_batch", 2)),
        (checks.columns, _packed(n=" 0" + "00" * 47), ("bad_batch", 2)),
        (checks.columns, _packed(n=[1, 2, 0, 0, 5, 6]), ("bad_batch", 2)),
        (checks.columns, _packed(n=None), ("bad_batch", 2)),
        (checks.columns, _packed(k="000"), ("bad_batch", 1)),
        (checks.columns, _packed(k="0001"), ("bad_batch", 2)),
        (checks.columns, _packed(r=["a"]), ("bad_batch", 2)),
    ],
)
def test_each_refusal_names_its_reason_and_the_rows_it_loses(
    check: Any, value: Any, verdict: tuple[str, int]
) -> None:
    assert _verdict(check, value) == verdict


def _keyed(keys: int) -> dict[str, Any]:
    """A format 2 batch of two rows and ``keys`` keys."""
    key = ["compute", "GET", "/", 200, None, None, None]
    return {"v": 2, "keys": [key] * keys, "k": "0000", "d": [1, 2],
            "i": [0, 0], "o": [0, 0]}


def test_a_batch_has_at_most_max_keys() -> None:
    keys, indexes, _ = checks.columns(_keyed(protocol.MAX_KEYS))
    assert (len(keys), len(indexes)) == (protocol.MAX_KEYS, 2)
    assert _verdict(checks.columns, _keyed(protocol.MAX_KEYS + 1)) == ("bad_batch", 2)


def test_a_refusal_loses_no_rows_unless_told() -> None:
    assert checks.Rejected("bad_message").rows == 0


@pytest.mark.parametrize(
    ("value", "claimed"),
    [
        ({"rows": [1, 2]}, 2),
        ({"d": [1, 2, 3]}, 3),
        ({"rows": "x", "d": [1]}, 1),
        ({"k": "000000"}, 3),
        ({"k": ["00"]}, 0),
        ({}, 0),
        ("x", 0),
    ],
)
def test_an_unreadable_batch_counts_the_rows_it_claims(
    value: Any, claimed: int
) -> None:
    assert checks.claimed_rows(value) == claimed


@pytest.mark.parametrize(
    ("columns", "bulk"),
    [
        ([[1, 2], [3], ["req-1", None]], True),
        ([[int(checks.MAX_AMOUNT)], [0], [None]], True),
        ([[1], [-1], [None]], False),
        ([[-1], [1], [None]], False),
        ([[1.5], [1], [None]], False),
        ([[1], [int(checks.MAX_AMOUNT) + 1], [None]], False),
        ([[1], [1], [5]], False),
        ([[1], [1], ['a"b']], False),
    ],
)
def test_only_plain_amounts_and_request_ids_go_in_bulk(
    columns: list[list[Any]], bulk: bool
) -> None:
    assert checks.in_bulk(columns) is bulk


def test_a_format_3_batch_holds_at_most_max_rows_and_max_keys() -> None:
    rows = protocol.MAX_ROWS
    value = _packed(k="00" * rows, n="00" * 24 * rows)
    _, indexes, found = checks.columns(value)
    assert len(indexes) == rows
    assert found[:3] == [[0] * rows] * 3
    key = value["keys"][0]
    assert _verdict(checks.columns, _packed(keys=[key] * (protocol.MAX_KEYS + 1))) == (
        "bad_batch", 2)
