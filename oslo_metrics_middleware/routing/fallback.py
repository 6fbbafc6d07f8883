"""Route templates guessed from a raw path, for apps with no known router.

Only segments that look like literal words of an API survive; anything that
could be an identifier becomes a placeholder, so no id reaches a label.
"""

from __future__ import annotations

import re

# Literal path words of OpenStack APIs: 'servers', 'os-volume_attachments',
# 'OS-FEDERATION'.  Digits are allowed after the first letter, but a segment
# that is mostly hex is treated as an id (see _looks_like_id).
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_VERSION = re.compile(r"v\d{1,2}(?:\.\d{1,3})?")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{8,}")
_HEX_ID = re.compile(r"[0-9a-fA-F-]{32,}")
_FORMAT_SUFFIXES = (".json", ".xml")

# Deeper paths are folded into one placeholder; bounds the label length.
MAX_SEGMENTS = 8
ID = "{id}"
TAIL = "{tail}"


def _looks_like_id(segment: str) -> bool:
    if _HEX_RUN.search(segment):
        return True
    digits = sum(char.isdigit() for char in segment)
    return digits * 2 > len(segment)


def _template_segment(segment: str) -> str:
    if _VERSION.fullmatch(segment):
        return segment
    if _WORD.fullmatch(segment) and not _looks_like_id(segment):
        return segment
    return ID


def normalise_path(path: str) -> str:
    """A route template for ``path`` in which no identifier survives.

    A project id right after the version segment is dropped, as the Routes
    templates drop it, so both URL forms share a label.
    """
    for suffix in _FORMAT_SUFFIXES:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    raw = [segment for segment in path.split("/") if segment]
    if len(raw) > 1 and _VERSION.fullmatch(raw[0]) and _HEX_ID.fullmatch(raw[1]):
        del raw[1]
    segments = [_template_segment(segment) for segment in raw[:MAX_SEGMENTS]]
    if len(raw) > MAX_SEGMENTS:
        segments.append(TAIL)
    return "/" + "/".join(segments)
