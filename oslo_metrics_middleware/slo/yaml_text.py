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

"""YAML text for the generated rule files, without a YAML library.

Rule files are maps, lists and strings; strings are written as JSON
strings (a subset of YAML's double-quoted style) or, for PromQL that spans
lines, as literal blocks, so a reader sees the query as it is run.
"""

from __future__ import annotations

import json
from typing import Any


def dump(document: dict[str, Any], header: str = "") -> str:
    """``document`` as YAML, after ``header`` lines as comments."""
    comments = [f"# {line}".rstrip() for line in header.splitlines()]
    return "\n".join([*comments, *_mapping(document, 0)]) + "\n"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def _entry(key: str, value: Any, pad: str) -> list[str]:
    if isinstance(value, dict):
        return ([f"{pad}{key}: {{}}"] if not value
                else [f"{pad}{key}:", *_mapping(value, len(pad) + 2)])
    if isinstance(value, list):
        return ([f"{pad}{key}: []"] if not value
                else [f"{pad}{key}:", *_sequence(value, len(pad) + 2)])
    if isinstance(value, str) and "\n" in value:
        return [f"{pad}{key}: |-",
                *(f"{pad}  {line}".rstrip() for line in value.splitlines())]
    return [f"{pad}{key}: {_scalar(value)}"]


def _mapping(mapping: dict[str, Any], indent: int) -> list[str]:
    lines: list[str] = []
    for key, value in mapping.items():
        lines += _entry(key, value, " " * indent)
    return lines


def _sequence(items: list[Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for item in items:
        if isinstance(item, dict) and item:
            inner = _mapping(item, indent + 2)
            lines += [f"{pad}- {inner[0].lstrip()}", *inner[1:]]
        else:
            lines.append(f"{pad}- {_scalar(item)}")
    return lines
