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

"""Checks of what arrives on the collector's socket, before any cap or metric.

Each check either gives the value back in the form the next step needs or
raises Rejected with one of REASONS.  Nothing here claims room under a cap
or touches a metric, so refused input leaves no trace but its count.
"""

from __future__ import annotations

import math
from typing import Any

from oslo_metrics_middleware import protocol

# Every reason a row, message or datagram is refused; all are exposed from
# the start so that a rate() over them has a series to work on.
REASONS = (
    "malformed_json",
    "oversized",
    "bad_message",
    "unknown_module",
    "unknown_metric",
    "bad_action",
    "bad_labels",
    "unknown_reason",
    "bad_batch",
    "bad_projects",
    "too_many_rows",
    "bad_row",
    "label_type",
    "label_encoding",
    "label_length",
    "bad_status",
    "bad_number",
    "not_finite",
    "negative",
    "out_of_range",
    "series_limit",
    "internal_error",
)
# Far beyond any real duration or body size, still exact as a float sum.
MAX_AMOUNT = 1e15
ACTIONS = ("inc", "observe")
# Request rows carry HTTP statuses; anything else is not a response.
STATUS_RANGE = range(100, 600)

BASE = len(protocol.ROW_FIELDS)
LABELLED = BASE + len(protocol.EXTRA_FIELDS)
# What filters send as request ids: oslo's req-<uuid> (40 bytes), and the
# ids of other frameworks, all printable ASCII.  Kept to that, an exemplar
# needs no escaping and takes a known room on the page, well within the
# 128 characters OpenMetrics allows.
MAX_REQUEST_ID = 64
_REQUEST_ID_BYTES = bytes(
    byte for byte in range(ord(" "), ord("~") + 1) if byte not in b'"\\'
)


class Rejected(Exception):  # noqa: N818 (a verdict, not a fault)
    """What arrived cannot be recorded; ``reason`` is one of REASONS."""

    def __init__(self, reason: str, rows: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        # Request rows lost with it, when a whole batch is refused.
        self.rows = rows


def fields(message: Any) -> tuple[str, str, str, Any, dict[str, Any]]:
    """The module, name, action, value and labels of an oslo.metrics
    message, or Rejected."""
    if not isinstance(message, dict):
        raise Rejected("bad_message")
    module = message.get("module")
    name = message.get("name")
    action = message.get("action")
    labels = message.get("labels")
    if not (
        isinstance(module, str)
        and isinstance(name, str)
        and isinstance(action, dict)
        and isinstance(labels, dict)
        and "value" in action
    ):
        raise Rejected("bad_message")
    verb = action.get("action")
    if verb not in ACTIONS:
        raise Rejected("bad_action")
    return module, name, verb, action["value"], labels


def amount(value: Any) -> float:
    """``value`` if it is a finite, non-negative number, else Rejected."""
    if (type(value) is float or type(value) is int) and 0 <= value <= MAX_AMOUNT:
        return value
    if type(value) is not float and type(value) is not int:
        raise Rejected("bad_number")
    if type(value) is float and not math.isfinite(value):
        raise Rejected("not_finite")
    if value < 0:
        raise Rejected("negative")
    raise Rejected("out_of_range")


def label(value: Any) -> str:
    """``value`` if it can be a label value, else Rejected.

    Its length is the caps' to judge: an over-long request label is folded,
    not refused, so the request still counts.
    """
    if type(value) is not str:
        raise Rejected("label_type")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Rejected("label_encoding") from None
    return value


def scalar(value: Any) -> str:
    """An upstream sender's label value as upstream shows it: str()."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return str(value)
    raise Rejected("label_type")


def status(value: Any) -> int:
    """``value`` if it is an HTTP status, else Rejected."""
    if type(value) is not int or value not in STATUS_RANGE:
        raise Rejected("bad_status")
    return value


def exemplar(request_id: Any) -> dict[str, str] | None:
    """A request id as an exemplar, if it is one (see request_ids)."""
    if type(request_id) is str and request_id and request_ids([request_id]):
        return {protocol.REQUEST_ID_FIELD: request_id}
    return None


def request_ids(ids: list[str]) -> bool:
    """Whether each of ``ids`` (non-empty strings) is a request id: at most
    MAX_REQUEST_ID characters of printable ASCII, no quote or backslash.

    Checked on all of them joined, in a few passes in C: a filter's
    datagram carries 400.
    """
    joined = "".join(ids)
    return (
        max(map(len, ids), default=0) <= MAX_REQUEST_ID
        and joined.isascii()
        and not joined.encode("ascii").translate(None, _REQUEST_ID_BYTES)
    )


def rows(value: Any) -> list[Any]:
    """The rows of a format 1 batch, at most protocol.MAX_ROWS."""
    if not (
        isinstance(value, dict)
        and value.get("v") == protocol.ROWS_FORMAT_VERSION
        and isinstance(value.get("rows"), list)
    ):
        raise Rejected("bad_batch", claimed_rows(value))
    found: list[Any] = value["rows"]
    _at_most_max_rows(len(found))
    return found


def columns(value: dict[str, Any]) -> tuple[list[Any], bytes, list[list[Any]]]:
    """The keys, key indexes and columns of a format 2 or 3 batch, at most
    protocol.MAX_ROWS rows and MAX_KEYS keys; Rejected before anything
    else is read if there are more."""
    try:
        _at_most_max_rows(len(value.get("k", "")) // 2)
        keys, indexes, found = protocol.columns_of(value)
    except (protocol.MalformedBatchError, TypeError):
        raise Rejected("bad_batch", claimed_rows(value)) from None
    if len(keys) > protocol.MAX_KEYS:
        raise Rejected("bad_batch", len(indexes))
    return keys, indexes, found


def _at_most_max_rows(count: int) -> None:
    if count > protocol.MAX_ROWS:
        raise Rejected("too_many_rows", count)


def claimed_rows(value: Any) -> int:
    """How many rows a batch that cannot be read says it carries: its
    rows or durations, else (format 3) its key indexes."""
    if isinstance(value, dict):
        for column in ("rows", "d"):
            if isinstance(value.get(column), list):
                return len(value[column])
        if isinstance(value.get("k"), str):
            return len(value["k"]) // 2
    return 0


def in_bulk(columns: list[list[Any]]) -> bool:
    """Whether every amount of a format 2 batch is a plain integer in range
    and every request id one (see request_ids): then the batch can
    be recorded in bulk, with no row refused."""
    for column in columns[:-1]:
        if column and not (
            set(map(type, column)) == {int}
            and min(column) >= 0
            and max(column) <= MAX_AMOUNT
        ):
            return False
    ids = list(filter(None, columns[-1]))
    return set(map(type, ids)) <= {str} and request_ids(ids)
