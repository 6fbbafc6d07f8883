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

"""Format 2 batches are the bytes json.dumps gives for the message;
format 3 batches read back exactly what was sent."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
import pytest

from oslo_metrics_middleware import protocol

_TEXT = st.text(max_size=12)
_OPTIONAL = st.none() | _TEXT
_NUMBER = st.integers(min_value=0, max_value=2**63) | st.floats(allow_nan=True)
_SAMPLES = st.lists(
    st.tuples(
        _TEXT, _TEXT, _TEXT, st.integers(100, 599), _OPTIONAL, _OPTIONAL,
        _OPTIONAL, _NUMBER, _NUMBER, _NUMBER, _OPTIONAL | st.just(""),
        _OPTIONAL | st.just(""),
    ),
    min_size=1,
    max_size=30,
)


def _by_json_dumps(samples: list[Any]) -> bytes:
    """The batch as one json.dumps of the message, column by column."""
    columns = list(zip(*samples, strict=True))
    keys = list(zip(*columns[:7], strict=True))
    index = {key: number for number, key in enumerate(dict.fromkeys(keys))}
    value: dict[str, Any] = {
        "v": protocol.FORMAT_VERSION,
        "keys": list(index),
        "k": bytes(index[key] for key in keys).hex(),
        "d": columns[7],
        "i": columns[8],
        "o": columns[9],
    }
    if any(columns[10]):
        value["r"] = columns[10]
    if any(columns[11]):
        value["p"] = columns[11]
    message = {
        "module": protocol.MODULE,
        "name": protocol.BATCH,
        "action": {"action": "observe", "value": value},
        "labels": {},
    }
    return json.dumps(message, separators=(",", ":")).encode()


def _format_2(samples: list[Any]) -> bytes:
    return protocol.encode_batch(samples, protocol.FORMAT_VERSION)


@given(_SAMPLES)
def test_batch_bytes_are_those_of_json_dumps(samples: list[Any]) -> None:
    assert _format_2(samples) == _by_json_dumps(samples)


# Batches as a busy worker sends them: one label set, or a few, integer
# columns, and ids mostly of printable ASCII, with the values the quick
# paths of the encoder must hand over to the JSON encoder mixed in.
_ID = st.text(
    alphabet=st.sampled_from('req-0123456789abcdef"\\\x00\x1f\x7f\u00e9 '),
    max_size=40,
)
_COUNT = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.booleans()
    | st.floats(allow_nan=True)
)
_KEYS = st.lists(
    st.tuples(_TEXT, st.sampled_from(["GET", "POST"]), _TEXT, st.integers(100, 599),
              _OPTIONAL, _OPTIONAL, _OPTIONAL),
    min_size=1,
    max_size=3,
)


@st.composite
def _busy_batches(draw: st.DrawFn) -> list[Any]:
    keys = draw(_KEYS)
    rows = draw(st.integers(1, 30))
    ints = st.integers(min_value=0, max_value=10**7)
    counts = draw(st.sampled_from([ints, _COUNT]))
    ids = draw(st.sampled_from([_ID, st.none() | _ID, st.just(None)]))
    return [
        (*draw(st.sampled_from(keys)), draw(counts), draw(counts), draw(counts),
         draw(ids), draw(ids))
        for _ in range(rows)
    ]


@given(_busy_batches())
def test_busy_batches_bytes_are_those_of_json_dumps(samples: list[Any]) -> None:
    assert _format_2(samples) == _by_json_dumps(samples)


def test_an_integer_subclass_is_written_as_json_dumps_writes_it() -> None:
    class Bytes(int):
        def __str__(self) -> str:
            return "not a number"

    samples: list[Any] = [
        ("s", "GET", "/", 200, None, None, None, Bytes(5), True, False, "a", None),
        ("s", "GET", "/", 200, None, None, None, 7, 0, 1, "b", None),
    ]
    assert _format_2(samples) == _by_json_dumps(samples)


def test_text_that_looks_like_column_separators_stays_whole() -> None:
    texts = ('],[', '"],["x', "req-1")
    samples: list[Any] = [
        protocol.sample(
            "compute", "GET", "/v2.1", 200, 0.001, 0, 1,
            request_id=text, project=text[::-1],
        )
        for text in texts
    ]
    datagram = _format_2(samples)
    assert datagram == _by_json_dumps(samples)
    value = json.loads(datagram)["action"]["value"]
    assert value["r"] == list(texts)
    assert value["p"] == [text[::-1] for text in texts]
    assert value["d"] == [1000, 1000, 1000]


def test_non_finite_durations_are_encoded_as_json_dumps_does() -> None:
    samples: list[Any] = [
        protocol.sample("compute", "GET", "/v2.1", 200, math.inf, 0, 0),
        protocol.sample("compute", "GET", "/v2.1", 200, math.nan, 0, 0),
    ]
    assert _format_2(samples) == _by_json_dumps(samples)


def _value(datagram: bytes) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(datagram)["action"]["value"]
    return value


def _packable(samples: list[Any]) -> bool:
    """Whether every amount is an int (not a bool) of 64 bits."""
    return all(
        type(number) is int and -(2**63) <= number < 2**63
        for sample in samples
        for number in sample[7:10]
    )


def _reads_back_as_sent(value: dict[str, Any], samples: list[Any]) -> None:
    columns = list(zip(*samples, strict=True))
    keys, indexes, read = protocol.columns_of(value)
    assert [keys[number] for number in indexes] == [list(s[:7]) for s in samples]
    assert read[:3] == [list(column) for column in columns[7:10]]
    ids = list(columns[10]) if any(columns[10]) else [None] * len(samples)
    assert read[3] == ids
    projects = list(columns[11]) if any(columns[11]) else None
    assert protocol.projects_of(value, len(samples)) == projects


@given(_SAMPLES)
def test_format_3_batches_read_back_exactly_or_are_format_2(
    samples: list[Any],
) -> None:
    datagram = protocol.encode_batch(samples)
    if not _packable(samples):
        assert datagram == _by_json_dumps(samples)
        return
    value = _value(datagram)
    assert value["v"] == protocol.PACKED_FORMAT_VERSION
    assert not {"d", "i", "o"} & set(value)
    _reads_back_as_sent(value, samples)


@given(_busy_batches())
def test_busy_format_3_batches_read_back_exactly_or_are_format_2(
    samples: list[Any],
) -> None:
    datagram = protocol.encode_batch(samples, protocol.PACKED_FORMAT_VERSION)
    if _packable(samples):
        _reads_back_as_sent(_value(datagram), samples)
    else:
        assert datagram == _by_json_dumps(samples)


def test_amounts_other_than_64_bit_ints_send_the_batch_in_format_2() -> None:
    class Bytes(int):
        pass

    for odd in (0.5, True, Bytes(5), 2**63, -(2**63) - 1, None, "5"):
        samples: list[Any] = [
            ("s", "GET", "/", 200, None, None, None, 7, 0, 1, "a", None),
            ("s", "GET", "/", 200, None, None, None, 8, odd, 1, "b", None),
        ]
        assert protocol.encode_batch(samples) == _by_json_dumps(samples), odd
    edges: list[Any] = [
        ("s", "GET", "/", 200, None, None, None, 2**63 - 1, -(2**63), -1, None, None)
    ]
    value = _value(protocol.encode_batch(edges))
    assert value["v"] == protocol.PACKED_FORMAT_VERSION
    assert protocol.columns_of(value)[2][:3] == [[2**63 - 1], [-(2**63)], [-1]]


def test_format_3_rows_are_those_of_format_2() -> None:
    samples = [
        protocol.sample("compute", "GET", "/v2.1", 200, 0.25, 3, 4, request_id="r1"),
        protocol.sample("compute", "POST", "/v2.1", 500, 1.5, 0, 0, "Timeout",
                        "os-start", "2.1"),
    ]
    packed, plain = (
        protocol.rows_of(_value(protocol.encode_batch(samples, version)))
        for version in (protocol.PACKED_FORMAT_VERSION, protocol.FORMAT_VERSION)
    )
    assert packed == plain == [
        ["compute", "GET", "/v2.1", 200, 0.25, 3, 4, None, "r1"],
        ["compute", "POST", "/v2.1", 500, 1.5, 0, 0, "Timeout", "os-start", "2.1"],
    ]


_KEY = ["compute", "GET", "/", 200, None, None, None]
_TWO_ROWS = "".join(
    number.to_bytes(8, "little", signed=True).hex() for number in (1, 2, 0, 0, 5, 6)
)


@pytest.mark.parametrize(
    "packed",
    [
        None,
        123,
        [1, 2, 0, 0, 5, 6],
        "",
        _TWO_ROWS[:-16],
        _TWO_ROWS + "00" * 8,
        _TWO_ROWS[:-2] + "zz",
        _TWO_ROWS[:-2] + " 0",
        " " + _TWO_ROWS[:-1],
        _TWO_ROWS[:-2] + "\u0660\u0660",
    ],
)
def test_a_format_3_batch_whose_amounts_are_not_its_rows_is_malformed(
    packed: Any,
) -> None:
    value = {"v": 3, "keys": [_KEY], "k": "0000", "n": packed}
    with pytest.raises(protocol.MalformedBatchError):
        protocol.columns_of(value)
    with pytest.raises(protocol.MalformedBatchError):
        protocol.rows_of(value)


def test_a_format_3_batch_reads_its_amounts() -> None:
    value = {"v": 3, "keys": [_KEY], "k": "0000", "n": _TWO_ROWS}
    assert protocol.columns_of(value) == (
        [_KEY], b"\x00\x00", [[1, 2], [0, 0], [5, 6], [None, None]]
    )
    # A batch in format 3 carries no JSON amount columns: those are not read.
    assert protocol.columns_of({**value, "d": [9]}) == protocol.columns_of(value)


def test_format_3_batches_split_below_max_datagram_and_lose_no_row() -> None:
    samples = [
        protocol.sample("compute", "GET", f"/r{n % 300}", 200, 0.001 * n, n, 2**40,
                        request_id=f"req-{n:0200}",
                        project="p" * protocol.MAX_PROJECT_CHARS)
        for n in range(protocol.MAX_ROWS)
    ]
    pieces = protocol.split_for_datagrams(samples)
    assert len(pieces) > 1
    read = []
    for datagram, carried in pieces:
        assert len(datagram) <= protocol.MAX_DATAGRAM
        value = _value(datagram)
        assert value["v"] == protocol.PACKED_FORMAT_VERSION
        assert len(value["keys"]) <= protocol.MAX_KEYS
        keys, indexes, columns = protocol.columns_of(value)
        assert len(indexes) == carried
        read += [
            (*keys[number], *amounts, request_id, project)
            for number, *amounts, request_id, project in zip(
                indexes, *columns, protocol.projects_of(value, carried), strict=True
            )
        ]
    assert read == samples
