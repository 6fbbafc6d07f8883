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

"""One progress bar on stderr for everything that takes a while: the
report's queries and recordings, the demo's requests."""

from __future__ import annotations

import sys
from typing import TextIO


class ProgressBar:
    """``label [#####.....] done/total unit``, redrawn in place.

    Called as ``bar(done, total)``, so it fits any loop that counts.
    """

    def __init__(self, label: str, stream: TextIO | None = None,
                 width: int = 30, unit: str = "") -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.unit = f" {unit}" if unit else ""
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        filled = self.width * done // max(total, 1)
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
            f"{done}/{total}{self.unit}"
        )
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        """End the line the bar was drawn on, if it was drawn at all."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
