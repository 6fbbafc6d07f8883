"""A progress bar on stderr for queries and recordings that take a while."""

from __future__ import annotations

import sys
from typing import TextIO


class ProgressBar:
    """``label [#####.....] done/total``, redrawn in place."""

    def __init__(self, label: str, stream: TextIO | None = None,
                 width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        filled = self.width * done // max(total, 1)
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
            f"{done}/{total}"
        )
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
