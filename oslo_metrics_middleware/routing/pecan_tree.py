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

"""Route templates read from a pecan controller tree (ironic).

pecan routes by walking controller objects and keeps no table, so the
templates are derived from the tree itself, the way pecan walks it:

- a public attribute that is a controller, or a key of the controller's
  ``_subcontroller_map`` (ironic's convention for its ``_lookup``), is a
  literal segment leading to that controller;
- a key of ``_custom_actions``, or the name of an exposed method of a plain
  controller, is a literal segment that ends the path;
- a ``RestController``, or a controller with a ``_lookup`` and neither a
  ``_subcontroller_map`` nor version targets, takes one identifier
  segment, named after the first argument of its ``get_one`` (or ``get``,
  ``delete``, ``put``, ``patch``, ``post``, ``_lookup``) not already used
  further up the path:
  ``/v1/nodes/{node_ident}/states/power``;
- a version segment (``v1``) can lead to a controller that the module of a
  ``_lookup`` names at top level (ironic's root hands every path to its
  ``v1`` controller that way).

A path that cannot be walked this way matches nothing.  The tree is read
lazily, one controller at a time, and never changes afterwards.
"""

from __future__ import annotations

import gc
import inspect
import re
import threading
from typing import Any

# Longest path walked; deeper paths match nothing.
MAX_SEGMENTS = 16
ID_METHODS = ("get_one", "get", "delete", "put", "patch", "post", "_lookup")
_VERSION = re.compile(r"v\d{1,2}(?:\.\d{1,3})?")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w{0,63}")


class _Controller:
    """What one controller offers to the walk."""

    __slots__ = (
        "actions",
        "children",
        "placeholders",
        "takes_ids",
        "version_targets",
    )

    def __init__(self, controller: object) -> None:
        from pecan import rest

        cls = controller if isinstance(controller, type) else type(controller)
        self.children: dict[str, object] = {}
        self.actions: set[str] = set(_static(controller, "_custom_actions") or ())
        is_rest = issubclass(cls, rest.RestController)
        for name in dir(cls):
            if name.startswith("_"):
                continue
            value = _static(controller, name)
            if is_controller(value):
                self.children[name] = value
            elif not is_rest and getattr(value, "exposed", False) and name != "index":
                self.actions.add(name)
        submap = _static(controller, "_subcontroller_map")
        if isinstance(submap, dict):
            for key, value in submap.items():
                if isinstance(key, str):
                    self.children.setdefault(key, value)
        lookup = _static(controller, "_lookup")
        self.version_targets = _module_controllers(lookup)
        self.takes_ids = is_rest or (
            lookup is not None and submap is None and not self.version_targets
        )
        self.placeholders = tuple(
            "{" + name + "}" for name in (*_argument_names(controller), "id")
        )


def is_controller(value: object) -> bool:
    """An object (or class) pecan can route into."""
    from pecan import rest

    if inspect.isroutine(value) or value is None:
        return False
    cls = value if isinstance(value, type) else type(value)
    if issubclass(cls, rest.RestController):
        return True
    if cls.__module__ == "builtins":
        return False
    return hasattr(cls, "_lookup") or any(
        getattr(attribute, "exposed", False) for attribute in vars(cls).values()
    )


def _static(controller: object, name: str) -> Any:
    # No properties run: neutron's controllers load plugins in theirs.
    try:
        value = inspect.getattr_static(controller, name)
    except AttributeError:
        return None
    if isinstance(value, (staticmethod, classmethod)):
        return value.__func__
    return value


def _argument_names(controller: object) -> tuple[str, ...]:
    for method in ID_METHODS:
        function = _static(controller, method)
        if not inspect.isroutine(function):
            continue
        try:
            # Follows functools.wraps through ironic's decorators.
            parameters = list(inspect.signature(function).parameters.values())
        except (TypeError, ValueError):
            continue
        names = tuple(
            parameter.name
            for parameter in parameters[1:]
            if parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
            and _IDENTIFIER.fullmatch(parameter.name)
        )
        if names:
            return names
    return ()


def _module_controllers(lookup: object) -> tuple[object, ...]:
    module_globals = getattr(lookup, "__globals__", None)
    if not isinstance(module_globals, dict):
        return ()
    return tuple(
        value
        for name, value in module_globals.items()
        if not name.startswith("_")
        and not isinstance(value, type)
        and is_controller(value)
    )


class ControllerTree:
    """Matches routing paths against the tree below one root controller."""

    def __init__(self, root: object) -> None:
        self._root = root
        self.root_id = id(root)
        self._controllers: dict[int, tuple[object, _Controller]] = {}
        self._lock = threading.Lock()

    def match(self, path: str) -> str | None:
        """The template of ``path``, or None when pecan could not route it."""
        segments = [segment for segment in path.split("/") if segment]
        if len(segments) > MAX_SEGMENTS:
            return None
        out: list[str] = []
        if not self._walk(self._root, segments, 0, False, out):
            return None
        return "/" + "/".join(out)

    def _info(self, controller: object) -> _Controller:
        entry = self._controllers.get(id(controller))
        if entry is None:
            with self._lock:
                # The controller is kept with its info, so its id stays unique.
                entry = (controller, _Controller(controller))
                self._controllers[id(controller)] = entry
        return entry[1]

    def _walk(
        self,
        controller: object,
        segments: list[str],
        index: int,
        took_id: bool,
        out: list[str],
    ) -> bool:
        # Depth first, literal segments before ids; ``out`` is the template
        # so far, grown and shrunk in place.
        if index == len(segments):
            return True
        info = self._info(controller)
        segment = segments[index]
        child = info.children.get(segment)
        if child is not None:
            out.append(segment)
            if self._walk(child, segments, index + 1, False, out):
                return True
            out.pop()
        if segment in info.actions and index + 1 == len(segments):
            out.append(segment)
            return True
        if info.version_targets and _VERSION.fullmatch(segment):
            out.append(segment)
            for target in info.version_targets:
                if self._walk(target, segments, index + 1, False, out):
                    return True
            out.pop()
        if info.takes_ids and not took_id:
            out.append(_free_placeholder(info.placeholders, out))
            if self._walk(controller, segments, index + 1, True, out):
                return True
            out.pop()
        return False


def _free_placeholder(placeholders: tuple[str, ...], out: list[str]) -> str:
    for placeholder in placeholders:
        if placeholder not in out:
            return placeholder
    return placeholders[-1]


def find_trees() -> list[ControllerTree]:
    """A tree for every pecan application this process has built.

    Run once, on the first pecan request that needs it: the filter cannot
    see through the middlewares around the application to its root.
    """
    from pecan import core

    return [
        ControllerTree(app.root)
        for app in gc.get_objects()
        if isinstance(app, core.PecanBase) and getattr(app, "root", None) is not None
    ]
