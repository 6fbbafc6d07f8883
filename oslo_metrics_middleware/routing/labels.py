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
        self.admitted: set[str] = set(reserved)
        self._reserved = len(self.admitted)
        self._lock = threading.Lock()

    def admit(self, value: str) -> str:
        """Return ``value`` if it is admitted, OVERFLOW otherwise."""
        if value in self.admitted:
            return value
        with self._lock:
            if len(self.admitted) - self._reserved < self._limit:
                self.admitted.add(value)
                return value
        return OVERFLOW
