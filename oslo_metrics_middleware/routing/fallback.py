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

"""Route templates guessed from a raw path, for apps with no known router.

Only segments that look like literal words of an API survive; anything that
could be an identifier or a free-form name becomes a named placeholder, so
no id reaches a label:

- ``{id}``: dashed or undashed UUIDs, 32/64-hex ids, integers, anything
  with a run of 8 hex digits or mostly digits, and random tokens made of
  letters and digits (``Xk9PqLmZ2rTy7WvB3nQs``, ``k3j9x0qz``);
- ``{request_id}``: ``req-<uuid>``;
- ``{name}``: segments that are not plain words (``m1.tiny``,
  ``hw:cpu_policy``, ``host@backend#pool``, Unicode, percent-encoding),
  and any segment longer than MAX_CLASSIFIED characters;
- ``{account}``, ``{container}``, ``{object}``: swift paths, whose object
  names may contain slashes;
- ``{tail}``: everything past MAX_SEGMENTS segments.
"""

from __future__ import annotations

import re

from oslo_metrics_middleware import cache
from oslo_metrics_middleware.routing.labels import UNMATCHED

# Literal path words of OpenStack APIs: 'servers', 'os-volume_attachments',
# 'OS-FEDERATION'.  Digits are allowed after the first letter, but a segment
# that is mostly hex is treated as an id (see _looks_like_id).
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_VERSION = re.compile(r"v\d{1,2}(?:\.\d{1,3})?")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{8}")
# Random tokens: digits in two separate runs (``k3j9x0``), or digits with
# both letter cases (``Xk9Pq``).  One pass over the segment at most.
_TWO_DIGIT_RUNS = re.compile(r"\d[^\d]+\d")
# Without digits: long, and a quarter or more of the letters capitals
# (``XkPqLmZrTy``), which camel case words are not (``ProcVirtualization``).
MIN_RANDOM_LENGTH = 10
_PROJECT_ID = re.compile(
    r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
)
_REQUEST_ID = re.compile(r"req-[0-9a-fA-F-]{32,36}")
# Swift accounts carry a reseller prefix: AUTH_<project id>, SERVICE_...
_SWIFT_ACCOUNT = re.compile(r"[A-Z][A-Z0-9]*_.*")
FORMAT_SUFFIXES = (".json", ".xml")
# The ids most requests carry (UUIDs, 32/64-hex, integers), which every
# rule below makes {id}: recognised first, in one match.
_COMMON_ID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{32}|[0-9a-fA-F]{64}|\d{1,19}"
)
_NON_DIGITS = re.compile(r"\D+")
# Whole segments that are a UUID or 32-hex id (also a project id) or an
# integer (never one): every rule treats each of these alike at any
# position, so paths differing only in them share one label.  Two plain
# substitutions: a replacement function would cost a Python call per id.
_SHAPE_UUIDS = re.compile(
    r"/(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32})(?=/|$)"
)
_SHAPE_INTEGERS = re.compile(r"/[0-9]{1,19}(?=/|$)")

# Deeper paths are folded into one placeholder; bounds the label length.
MAX_SEGMENTS = 8
# Longer segments are {name} unexamined: no word or id is that long, and
# scanning them would make a request's cost grow with its path.
MAX_CLASSIFIED = 64
ID = "{id}"
NAME = "{name}"
REQUEST_ID = "{request_id}"
TAIL = "{tail}"
SWIFT_PLACEHOLDERS = ("{account}", "{container}", "{object}")


# Literal words seen, with their label form: most segments of most paths.
# Ids are never kept (they are rarely seen twice); a full cache is emptied.
# A word is its own label, one object, counted once.  The words of a whole
# API fit several times over (nova's routes have about 75, Placement's
# 10), and the cache is read only where the cache of guessed labels
# missed; 400 words of the longest kind fit in its bytes.
LITERALS_SIZE = 512
LITERALS_BYTES = 32 * 1024
_literals: cache.BoundedCache[str, str] = cache.BoundedCache(
    LITERALS_SIZE, LITERALS_BYTES
)


def _looks_like_id(segment: str) -> bool:
    if _HEX_RUN.search(segment):
        return True
    # Counted in C: a long segment must not cost a Python step per char.
    digits = len(_NON_DIGITS.sub("", segment))
    if digits * 2 > len(segment):
        return True
    return _looks_random(segment, digits)


def _looks_random(segment: str, digits: int) -> bool:
    """Letters and digits mixed as no API word mixes them.

    API words with digits have one run of them in one letter case
    (``os-ec2``, ``x509``, ``ipv6``, ``OS-OAUTH1``).
    """
    mixed_case = not segment.islower() and not segment.isupper()
    if digits:
        return mixed_case or _TWO_DIGIT_RUNS.search(segment) is not None
    if not mixed_case or len(segment) < MIN_RANDOM_LENGTH:
        return False
    capitals = sum(char.isupper() for char in segment)
    return capitals * 4 >= len(segment)


def template_segment(segment: str) -> str:
    """The label form of one path segment."""
    if len(segment) > MAX_CLASSIFIED:
        return NAME  # before hashing it: a long segment costs nothing more
    label = _literals.get(segment)
    if label is not None:
        return label
    if _COMMON_ID.fullmatch(segment):
        return ID
    label = classify_segment(segment)
    if label == segment:
        _literals.put(segment, segment)
    return label


def classify_segment(segment: str) -> str:
    """The label form of one path segment, by the rules, uncached."""
    if len(segment) > MAX_CLASSIFIED:
        return NAME
    if _VERSION.fullmatch(segment):
        return segment
    if _WORD.fullmatch(segment):
        return ID if _looks_like_id(segment) else segment
    if _REQUEST_ID.fullmatch(segment):
        return REQUEST_ID
    if _looks_like_id(segment) and segment.replace("-", "").isalnum():
        return ID
    return NAME


def _swift_template(raw: list[str]) -> str:
    # /v1/{account}/{container}/{object}: the object name may hold slashes.
    return "/" + "/".join([raw[0], *SWIFT_PLACEHOLDERS[: len(raw) - 1]])


def strip_format(path: str) -> str:
    """``/v2.0/networks.json`` -> ``/v2.0/networks``."""
    if path.endswith(FORMAT_SUFFIXES):
        return path.rsplit(".", 1)[0]
    return path


# Segments a label can use: MAX_SEGMENTS, one more that shows a tail
# exists, and one more for a dropped project id.
_NEEDED = MAX_SEGMENTS + 2


def _first_segments(path: str) -> list[str]:
    """The non-empty segments of ``path``, or enough of them for a label.

    Splitting stops after what a label can use, so a long path costs
    one C-level scan, not a Python step per segment.
    """
    parts = path.split("/", _NEEDED + 1)
    if len(parts) <= _NEEDED + 1:
        return [segment for segment in parts if segment]
    head = [segment for segment in parts[:-1] if segment]
    if len(head) >= _NEEDED:
        return head
    # Empty segments ('//') took the room: split the whole path.
    return [segment for segment in path.split("/") if segment]


def shape_key(path: str) -> str:
    """``path`` with its ids replaced: equal keys give equal labels.

    A cache keyed by it is hit by every request of a route, whatever the
    ids, where a cache keyed by the raw path would miss on each new id.
    NUL never reaches a real path, so no literal segment looks like a
    marker.
    """
    return _SHAPE_INTEGERS.sub("/\0i", _SHAPE_UUIDS.sub("/\0u", path))


# Stands for a segment too long to be classified ({name} whatever it
# holds), in the keys of long paths; NUL never reaches a real path.
_LONG_SEGMENT = "\0n"


def long_path_key(path: str) -> str:
    """A shape key for a path of any length, made of what its label can use.

    The label reads only the first segments, and a segment longer than
    MAX_CLASSIFIED becomes ``{name}`` whatever it holds, so such a segment
    stands as one marker and the segments past the first ones are not
    in the key: a key of a few hundred characters at most, even for a path
    of kilobytes, unless one of the first two segments is long (they
    decide a swift account or a project id whatever their length).  Both
    forms below give a key whose non-empty segments are the path's first
    segments as the label reads them, so paths of one key have one label.
    Its first character tells it from the keys of shape_key(), which start
    with '/'.
    """
    if path.endswith(FORMAT_SUFFIXES):
        path = strip_format(path)
    # The usual long path ends with its one long segment: found from the
    # end with str.rfind, at memrchr's pace, where a split would compare
    # each of its characters in turn.
    cut = path.rfind("/") + 1
    if (
        len(path) - cut > MAX_CLASSIFIED
        and cut <= _LONG_HEAD
        and "/" in path[:cut].strip("/")  # two segments before it at least
    ):
        return "\0" + shape_key(path[:cut]) + _LONG_SEGMENT
    head_segments = _first_segments(path)[:_NEEDED]
    marked = [
        _LONG_SEGMENT if len(segment) > MAX_CLASSIFIED else segment
        for segment in head_segments[2:]
    ]
    return "\0" + shape_key("/" + "/".join(head_segments[:2] + marked))


# Longest part before a long last segment taken as it is into a key.
_LONG_HEAD = _NEEDED * (MAX_CLASSIFIED + 1)


def normalise_path(path: str) -> str:
    """A route template for ``path`` in which no identifier survives.

    A project id right after the version segment is dropped, as the Routes
    templates drop it, so both URL forms share a label.
    """
    path = strip_format(path)
    raw = _first_segments(path)
    if len(raw) > 1 and raw[0] == "v1" and _SWIFT_ACCOUNT.fullmatch(raw[1]):
        return _swift_template(raw)
    if len(raw) > 1 and _VERSION.fullmatch(raw[0]) and _PROJECT_ID.fullmatch(raw[1]):
        del raw[1]
    return template_of(raw)


def template_of(raw: list[str], known: dict[str, str] | None = None) -> str:
    """The template of path segments; ``known`` maps some to placeholders."""
    segments = [
        (known.get(segment) if known else None) or template_segment(segment)
        for segment in raw[:MAX_SEGMENTS]
    ]
    if len(raw) > MAX_SEGMENTS:
        segments.append(TAIL)
    return "/" + "/".join(segments)


def unserved_version(path: str) -> str:
    """The label of a request for an API version the service does not serve.

    Only the version survives (``/v3/images/{id}`` -> ``/v3/__unmatched__``):
    the words after it belong to no route, and a path that starts with no
    version is ``__unmatched__`` outright.
    """
    first = path.lstrip("/").split("/", 1)[0]
    if _VERSION.fullmatch(first):
        return f"/{first}/{UNMATCHED}"
    return UNMATCHED
