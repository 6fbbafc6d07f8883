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

"""Turn a Routes ``routepath`` into a label template with ``{name}`` holes."""

from __future__ import annotations

import re

# Segments that only carry the tenant: nova and cinder connect every route
# with and without one, and heat names it tenant_id.
PROJECT_PLACEHOLDERS = frozenset({"{project_id}", "{tenant_id}"})

_PAREN_VARIABLE = re.compile(r"[:*]\((\w+)\)")
_BARE_VARIABLE = re.compile(r"(?<=/)[:*](\w+)")
_FORMAT_SUFFIX = re.compile(r"(?:\.\{format\}|\{\.format\})$")


def _strip_requirements(path: str) -> str:
    """``{id:[0-9]{1,3}}`` -> ``{id}``, minding nested braces."""
    out: list[str] = []
    index = 0
    while index < len(path):
        char = path[index]
        if char != "{":
            out.append(char)
            index += 1
            continue
        depth, end = 0, index
        while end < len(path):
            if path[end] == "{":
                depth += 1
            elif path[end] == "}":
                depth -= 1
                if depth == 0:
                    break
            end += 1
        name = path[index + 1 : end].split(":", 1)[0]
        out.append("{" + name + "}")
        index = end + 1
    return "".join(out)


def clean_routepath(routepath: str) -> str:
    """Normalise Routes syntax to ``{name}`` placeholders.

    ``:(x)``, ``/:x``, ``*x`` and ``{x:regex}`` all become ``{x}``, a trailing
    format suffix is dropped, and so is a leading project-id segment, so that
    the routes with and without a project id share one label.
    """
    path = _PAREN_VARIABLE.sub(r"{\1}", routepath)
    path = _BARE_VARIABLE.sub(r"{\1}", path)
    path = _strip_requirements(path)
    path = _FORMAT_SUFFIX.sub("", path)
    segments = path.split("/")
    if len(segments) > 1 and segments[1] in PROJECT_PLACEHOLDERS:
        del segments[1]
    path = "/".join(segments)
    if not path.startswith("/"):
        path = "/" + path
    return path.rstrip("/") or "/"


_FLASK_VARIABLE = re.compile(r"<(?:[A-Za-z_]\w*(?:\([^)>]*\))?:)?([A-Za-z_]\w*)>")


def clean_flask_rule(rule: str) -> str:
    """``/v3/users/<string:user_id>`` -> ``/v3/users/{user_id}``."""
    path = _FLASK_VARIABLE.sub(r"{\1}", rule)
    if not path.startswith("/"):
        path = "/" + path
    return path.rstrip("/") or "/"


def join_mount(prefix: str, path: str) -> str:
    """A template under the label form of a mount point (``SCRIPT_NAME``)."""
    if prefix in ("", "/"):
        return path
    if path == "/":
        return prefix
    return prefix + path
