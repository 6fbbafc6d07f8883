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

"""The batch encoding gives the bytes json.dumps gives for the message."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

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


@given(_SAMPLES)
def test_batch_bytes_are_those_of_json_dumps(samples: list[Any]) -> None:
    assert protocol.encode_batch(samples) == _by_json_dumps(samples)


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
    assert protocol.encode_batch(samples) == _by_json_dumps(samples)


def test_an_integer_subclass_is_written_as_json_dumps_writes_it() -> None:
    class Bytes(int):
        def __str__(self) -> str:
            return "not a number"

    samples: list[Any] = [
        ("s", "GET", "/", 200, None, None, None, Bytes(5), True, False, "a", None),
        ("s", "GET", "/", 200, None, None, None, 7, 0, 1, "b", None),
    ]
    assert protocol.encode_batch(samples) == _by_json_dumps(samples)


def test_text_that_looks_like_column_separators_stays_whole() -> None:
    texts = ('],[', '"],["x', "req-1")
    samples: list[Any] = [
        protocol.sample(
            "compute", "GET", "/v2.1", 200, 0.001, 0, 1,
            request_id=text, project=text[::-1],
        )
        for text in texts
    ]
    datagram = protocol.encode_batch(samples)
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
    assert protocol.encode_batch(samples) == _by_json_dumps(samples)
