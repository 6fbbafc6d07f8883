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
datagram: the ``batch`` metric of the collector module takes them with
``observe``.  Counters this project keeps in the sender (drops, route
overflow) use the plain one-metric form with ``inc``.

A batch is column-wise, because encoding it is what a request costs the
sender most.  Format 3, what senders send by default::

    {"v": 3,
     "keys": [[service, method, route, status, exception, action,
               microversion], ...],
     "k": "0001...",          # per row, its key's index: one hex byte
     "n": "e803000000000000...",       # the amounts, packed (see below)
     "r": [request_id or null, ...],   # only when a row has one
     "p": [project_id or null, ...]}   # only when a row has one

``n`` is the hex of signed 64-bit little-endian integers: every row's
duration in microseconds, then every row's request bytes, then every
row's response bytes; 48 hex digits a row, exactly.  Packing an integer
costs a fraction of writing it in decimal.

Format 2 carries the amounts as JSON lists instead of ``n``: ``"d"``
(duration_us), ``"i"`` and ``"o"``.  A sender writes it when told to
(a collector older than format 3 refuses those batches whole, so a host
upgraded filters first keeps format 2 until its collector is upgraded),
and for any batch with an amount that is not an exact int of 64 bits.

Format 1, a list of rows under ``"rows"`` (see ROW_FIELDS), is still read
by the collector, as is format 2.  The ``"p"`` column came after format
2: a collector that predates it reads the batch as before and ignores the
column, so it needs no new version.
"""

from __future__ import annotations

from collections.abc import Sequence
import functools
import json
import math
import struct
from typing import Any

from oslo_metrics_middleware import cache

# The daemon finds a metric module by the last component of its dotted path.
MODULE = "openstack_api"
BATCH = "batch"
# Batch formats: rows (1), columns in JSON lists (2), and columns whose
# amounts are packed as 64-bit integers (3), which senders send by default.
ROWS_FORMAT_VERSION = 1
FORMAT_VERSION = 2
PACKED_FORMAT_VERSION = 3
BATCH_FORMATS = (FORMAT_VERSION, PACKED_FORMAT_VERSION)
# Format 2 carries durations as integer microseconds: this many a second.
MICROSECONDS = 1_000_000

# The daemon reads with recv(65565); keep every datagram well below it.
UPSTREAM_READ_SIZE = 65_565
MAX_DATAGRAM = 60_000
# Label sets per datagram, so that a key index fits in one byte.
MAX_KEYS = 256
# Most requests a sender puts in one datagram (the transport sends at most
# this many at a time); the collector refuses a batch with more unread, so
# that no datagram costs it more than this many rows.
MAX_ROWS = 400
# Why a sender counts a request as dropped, in
# openstack_api_metrics_dropped_samples_total{reason}: the buffer was
# full, the socket refused the datagram, the process exited first, or the
# socket was not the collector's (socket_trust.py).
DROP_REASONS = ("buffer_full", "send_error", "exit", "untrusted_socket")

# What one request is labelled with (the last three None when absent);
# a batch lists each distinct key once.
KEY_FIELDS = (
    "service",
    "method",
    "route",
    "status",
    "exception",
    "action",
    "microversion",
)
# One measured request: its key's fields, then its duration in
# microseconds, request and response body bytes, request id and project
# id.  One flat
# tuple: one is built on every request (a named tuple costs ten times as
# much to create), and thousands may be held while the collector is away.
Sample = tuple[
    str,
    str,
    str,
    int,
    str | None,
    str | None,
    str | None,
    int,
    int,
    int,
    str | None,
    str | None,
]

# Format 1 rows, and the rows rows_of() gives: these fields, then action
# and microversion for a filter with those labels, then the request id.
ROW_FIELDS = (
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
# Longest project id a filter sends as it is; keystone's are 32 hex
# characters.  A longer value is sent as UNREADABLE_PROJECT, so a client's
# header cannot make a datagram grow past what the collector reads.
MAX_PROJECT_CHARS = 64
UNREADABLE_PROJECT = "?"

# Counters of label values beyond max_label_values.
ACTION_OVERFLOW = "openstack_api_metrics_action_overflow_total"
MICROVERSION_OVERFLOW = "openstack_api_metrics_microversion_overflow_total"

_SEPARATORS = (",", ":")
_KEY_SIZE = len(KEY_FIELDS)
_ROUTE = KEY_FIELDS.index("route")
# Hex digits of one format 3 amount: a signed 64-bit integer.
_PACKED_DIGITS = 16


class TooManyKeysError(ValueError):
    """Samples with more than MAX_KEYS label sets, for one datagram."""


def encode_batch(samples: list[Sample], version: int = PACKED_FORMAT_VERSION) -> bytes:
    """One datagram carrying ``samples`` in format ``version`` (2 or 3);
    TooManyKeysError if they have more than MAX_KEYS label sets.

    A format 3 batch whose amounts are not all integers of 64 bits is
    written in format 2, which carries any number.  The bytes are those
    ``json.dumps`` gives for the message, built from pieces: the fixed
    text is written once, each label set is encoded once per process (see
    _key_text), and each column is written by one call in C.  A Python
    step per row would cost as much as the rest of the request.
    """
    columns = list(zip(*samples, strict=True))
    key_texts, indexes = _keys(samples[0][:_KEY_SIZE], columns[:_KEY_SIZE])
    numbers = columns[_KEY_SIZE] + columns[_KEY_SIZE + 1] + columns[_KEY_SIZE + 2]
    # Exact ints only, not a bool or a float (checked in C, as the rest):
    # both formats write other numbers another way.
    exact = list(map(type, numbers)).count(int) == len(numbers)
    packed = None
    if exact and version == PACKED_FORMAT_VERSION:
        packed = _packed(numbers)
    if packed is None:
        version, amounts = FORMAT_VERSION, _numbers(numbers, len(samples), exact)
    else:
        amounts = f',"n":"{packed}"'
    request_ids, projects = columns[-2:]
    ids = f',"r":{_texts(request_ids)}' if any(request_ids) else ""
    if any(projects):
        ids += f',"p":{_texts(projects)}'
    return (
        f'{_BATCH_HEAD}"v":{version},"keys":[{",".join(key_texts)}],'
        f'"k":"{indexes}"{amounts}{ids}}}{_BATCH_TAIL}'
    ).encode()


def _keys(
    first: tuple[Any, ...], key_columns: list[tuple[Any, ...]]
) -> tuple[list[str], str]:
    """The JSON texts of the distinct label sets, and each row's index
    into them in hex; ``first`` is the first row's label set."""
    known = _KEY_TEXTS
    rows = len(key_columns[0])
    # Most batches hold one label set: seen by counting, in each column,
    # the first row's value (in C, and equal strings are mostly the same
    # object), so no row needs a tuple of its own, nor hashing it.  The
    # route, the label most likely to differ, is counted first.
    if key_columns[_ROUTE].count(first[_ROUTE]) == rows and list(
        map(tuple.count, key_columns, first)
    ) == [rows] * _KEY_SIZE:
        return [known.get(first) or _key_text(first)], "00" * rows
    # Otherwise each row's label set is hashed once, to find its text;
    # the rest works on the texts, whose hashes Python keeps.  Label sets
    # of str, int and None are equal exactly when their texts are.
    keys = list(zip(*key_columns, strict=True))
    try:
        texts = list(map(known.__getitem__, keys))
    except KeyError:  # label sets this process has not seen yet
        texts = [known.get(key) or _key_text(key) for key in keys]
    # Numbered in the order they come: one dictionary built, not two.
    index: dict[str, int] = {}
    for text in texts:
        index.setdefault(text, len(index))
    if len(index) > MAX_KEYS:
        raise TooManyKeysError(f"{len(index)} label sets")
    return list(index), bytes(map(index.__getitem__, texts)).hex()


def _packed(numbers: tuple[int, ...]) -> str | None:
    """The amounts of a format 3 batch, all exact ints, in hex; None
    unless all of them fit 64 bits."""
    try:
        return _packer(len(numbers)).pack(*numbers).hex()
    except struct.error:  # out of range
        return None


# A Struct is a hundred bytes whatever its count; building one costs more
# than packing a batch of a few rows.
@functools.lru_cache(maxsize=64)
def _packer(count: int) -> struct.Struct:
    """What packs ``count`` amounts, kept for the sizes of batch in use."""
    return struct.Struct(f"<{count}q")


def _numbers(numbers: tuple[Any, ...], rows: int, exact: bool) -> str:
    """The duration and byte columns of a format 2 batch, as JSON writes
    them: ``numbers`` holds each column in turn, ``exact`` when all of
    them are exact ints."""
    # "%d" writes an int as JSON does, in half the encoder's time; a bool
    # or a float it would write otherwise.
    if exact:
        row = ("%d," * rows)[:-1]
        return f',"d":[{row}],"i":[{row}],"o":[{row}]' % numbers
    # Floats (non-finite durations among them) and the rest: the encoder.
    durations, request_bytes, response_bytes = map(
        _ENCODER.encode, _amount_columns(numbers, rows)
    )
    return f',"d":{durations},"i":{request_bytes},"o":{response_bytes}'


def _texts(column: tuple[Any, ...]) -> str:
    """A column of request or project ids, as JSON writes it.

    Ids are printable ASCII without quotes or backslashes, which JSON
    writes as they are: joined in C, they cost a fraction of what the
    JSON encoder, which looks at each character, costs.  Anything else
    (None, other text) goes through the encoder.
    """
    try:
        joined = '","'.join(column)
    except TypeError:  # not all of them are str
        return _ENCODER.encode(column)
    # Once the characters JSON writes as they are are deleted, only the
    # quotes of the separators may be left.
    if joined.isascii() and len(
        joined.encode().translate(None, _AS_THEY_ARE)
    ) == 2 * (len(column) - 1):
        return f'["{joined}"]'
    return _ENCODER.encode(column)


# The characters JSON writes unescaped (with ensure_ascii, the default):
# printable ASCII but the quote and the backslash; not even DEL.
_AS_THEY_ARE = bytes(sorted(set(range(0x20, 0x7F)) - set(b'"\\')))


def encode_increment(name: str, amount: int, labels: dict[str, str]) -> bytes:
    """One datagram adding ``amount`` to the counter ``name``."""
    return _encode(name, "inc", amount, labels)


def _encode(name: str, action: str, value: Any, labels: dict[str, str]) -> bytes:
    message = {
        "module": MODULE,
        "name": name,
        "action": {"action": action, "value": value},
        "labels": labels,
    }
    return _ENCODER.encode(message).encode()


# One encoder for the process: json.dumps() with separators builds a new
# one on every call, which costs more than encoding a whole batch.
_ENCODER = json.JSONEncoder(separators=_SEPARATORS, check_circular=False)
# A batch message as _encode() writes it, in the two pieces around its
# value's fields: '...,"value":{' and '},"labels":{}}'.
_BATCH_HEAD, _BATCH_TAIL = _encode(BATCH, "observe", {}, {}).decode().split("{}", 1)
_BATCH_HEAD += "{"
# Label sets in their JSON text: a process sees few, and sees them often.
MAX_KEY_TEXTS = 4096
MAX_KEY_TEXT_BYTES = 1024 * 1024
_KEY_TEXTS: cache.BoundedCache[tuple[Any, ...], str] = cache.BoundedCache(
    MAX_KEY_TEXTS, MAX_KEY_TEXT_BYTES
)


def _key_text(key: tuple[Any, ...]) -> str:
    text = _ENCODER.encode(key)
    _KEY_TEXTS.put(key, text)
    return text


def split_for_datagrams(
    samples: list[Sample], version: int = PACKED_FORMAT_VERSION
) -> list[tuple[bytes, int]]:
    """Encode ``samples`` as datagrams of at most MAX_DATAGRAM bytes, in
    format ``version`` (see encode_batch).

    Each datagram comes with the number of samples it carries.
    """
    if not samples:
        return []
    try:  # not contextlib.suppress: that costs as much as a dozen rows
        encoded = encode_batch(samples, version)
    except TooManyKeysError:
        pass
    else:
        if len(encoded) <= MAX_DATAGRAM or len(samples) == 1:
            return [(encoded, len(samples))]
    half = len(samples) // 2
    return split_for_datagrams(samples[:half], version) + split_for_datagrams(
        samples[half:], version
    )


def sample(
    service: str,
    method: str,
    route: str,
    status: int,
    duration: float,
    request_bytes: int = 0,
    response_bytes: int = 0,
    exception: str | None = None,
    action: str | None = None,
    microversion: str | None = None,
    request_id: str | None = None,
    project: str | None = None,
) -> Sample:
    """A sample from its fields, ``duration`` in seconds."""
    micros = duration
    if isinstance(duration, float) and math.isfinite(duration):
        micros = round(duration * MICROSECONDS)  # anything else: left for a test of it
    return (
        service,
        method,
        route,
        status,
        exception,
        action,
        microversion,
        micros,  # type: ignore[return-value]
        request_bytes,
        response_bytes,
        request_id,
        project,
    )


class MalformedBatchError(ValueError):
    """A batch value that is not one of the formats."""


def rows_of(value: Any) -> list[list[Any]]:
    """The rows of a batch value of either format, as format 1 has them.

    Only the shape is checked (MalformedBatchError); the values are the
    reader's to check.
    """
    if not isinstance(value, dict):
        raise MalformedBatchError("not an object")
    version = value.get("v")
    if version == ROWS_FORMAT_VERSION and isinstance(value.get("rows"), list):
        return list(value["rows"])
    if version not in BATCH_FORMATS:
        raise MalformedBatchError(f"unknown format {version!r}")
    keys, indexes, columns = columns_of(value)
    rows = []
    for number, duration, *sizes, request_id in zip(indexes, *columns, strict=True):
        service, method, route, status, exception, *extra = keys[number]
        if type(duration) is int or type(duration) is float:
            duration = duration / MICROSECONDS
        row = [service, method, route, status, duration, *sizes, exception]
        if extra != [None, None]:
            row.extend(extra)
        if request_id is not None:
            row.append(request_id)
        rows.append(row)
    return rows


def columns_of(value: dict[str, Any]) -> tuple[list[Any], bytes, list[list[Any]]]:
    """The keys, key indexes and columns (duration, request and response
    bytes, request id) of a format 2 or 3 batch; MalformedBatchError if
    its shape is not one."""
    keys = value.get("keys")
    try:
        indexes = bytes.fromhex(value.get("k"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise MalformedBatchError("the key indexes are not hex") from None
    if value.get("v") == PACKED_FORMAT_VERSION:
        columns = _unpacked(value.get("n"), len(indexes))
    else:
        columns = [value.get(name) for name in ("d", "i", "o")]
    if not isinstance(keys, list) or not all(
        isinstance(key, list) and len(key) == len(KEY_FIELDS) for key in keys
    ):
        raise MalformedBatchError("keys are not lists of the key fields")
    request_ids = value.get("r")
    columns.append([None] * len(indexes) if request_ids is None else request_ids)
    if not all(
        isinstance(column, list) and len(column) == len(indexes) for column in columns
    ):
        raise MalformedBatchError("columns of different lengths")
    if indexes and max(indexes) >= len(keys):
        raise MalformedBatchError("a key index past the keys")
    return keys, indexes, columns


def _unpacked(packed: Any, rows: int) -> list[Any]:
    """The duration and byte columns of a format 3 batch of ``rows`` rows
    from its ``"n"`` text: exactly 16 hex digits an amount."""
    if not isinstance(packed, str) or len(packed) != 3 * rows * _PACKED_DIGITS:
        raise MalformedBatchError("amounts of another length")
    try:
        # fromhex() skips spaces, so a text of the right length with any
        # in it decodes short.
        numbers = list(struct.unpack(f"<{3 * rows}q", bytes.fromhex(packed)))
    except (ValueError, struct.error):
        raise MalformedBatchError("amounts that are not hex") from None
    return _amount_columns(numbers, rows)


def _amount_columns(numbers: Sequence[Any], rows: int) -> list[Any]:
    """The duration, request-byte and response-byte columns of a batch of
    ``rows`` rows, from its amounts, which hold each column in turn."""
    return [numbers[:rows], numbers[rows : 2 * rows], numbers[2 * rows :]]


def projects_of(value: dict[str, Any], rows: int) -> list[Any] | None:
    """The project column of a format 2 batch of ``rows`` rows, None when
    it has none; MalformedBatchError if it is not one value per row."""
    projects = value.get("p")
    if projects is None:
        return None
    if not isinstance(projects, list) or len(projects) != rows:
        raise MalformedBatchError("a project column of another length")
    return projects
