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

"""Bounds on label values: length and number of distinct values."""

from __future__ import annotations

import threading

UNMATCHED = "__unmatched__"
OVERFLOW = "__overflow__"
OTHER = "__other__"

# Longest label value sent; real templates are far shorter.
MAX_LABEL_LENGTH = 200


def bounded(value: str) -> str:
    """Cut ``value`` to the longest label value allowed."""
    return value[:MAX_LABEL_LENGTH]


class LabelCap:
    """Admits at most ``limit`` distinct values; later ones become OVERFLOW."""

    def __init__(self, limit: int, reserved: tuple[str, ...] = ()) -> None:
        self._limit = limit
        # Read by callers on every request: a value found here needs no call.
        # Each value maps to itself, so admit() hands back the one text
        # kept for it and callers that keep labels hold no copies.
        self.admitted = {value: value for value in reserved}
        self._reserved = len(self.admitted)
        self._lock = threading.Lock()

    def admit(self, value: str) -> str:
        """The admitted text equal to ``value``, OVERFLOW if there is none
        and no room for it."""
        known = self.admitted.get(value)
        if known is not None:
            return known
        with self._lock:
            if len(self.admitted) - self._reserved < self._limit:
                return self.admitted.setdefault(value, value)
        return OVERFLOW
