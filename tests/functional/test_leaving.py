"""Every request is delivered or counted, however the process leaves.

A slow reader plays a collector that is behind for the whole run: the
sender fills its buffer, drops and counts, and must still account for
every request when the process ends.
"""

from __future__ import annotations

from collections import Counter
import json
from pathlib import Path
import re
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from tests.functional.servers import REPO

REQUESTS = 6000
DROPPED = "openstack_api_metrics_dropped_samples_total"


class SlowCollector:
    """Reads one datagram every few milliseconds until stopped."""

    def __init__(self, path: Path, pause: float = 0.05) -> None:
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(path))
        self.socket.settimeout(0.5)
        self.pause = pause
        self.rows = 0
        self.dropped: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                message: dict[str, Any] = json.loads(self.socket.recv(65536))
            except TimeoutError:
                continue
            if message["name"] == "batch":
                self.rows += len(message["action"]["value"]["rows"])
            elif message["name"] == DROPPED:
                reason = message["labels"]["reason"]
                self.dropped[reason] += message["action"]["value"]
            time.sleep(self.pause)

    def __enter__(self) -> SlowCollector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # Whatever is still queued in the kernel is read before stopping.
        self.pause = 0
        deadline = time.monotonic() + 10
        while self._pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stop.set()
        self._thread.join(10)
        self.socket.close()

    def _pending(self) -> bool:
        try:
            self.socket.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, TimeoutError):
            return False
        return True


def leave(socket_path: Path, how: str, count: int, grace: str = "10") -> str:
    """Run tests/functional/apps/leaving.py; its stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.functional.apps.leaving",
         str(socket_path), str(count), how, grace],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    )
    return done.stderr


@pytest.mark.parametrize("how", ["exit", "os_exit", "multiprocessing"])
def test_collector_behind_every_request_delivered_or_counted(
    tmp_path: Path, how: str
) -> None:
    path = tmp_path / "collector.sock"
    with SlowCollector(path) as collector:
        log = leave(path, how, REQUESTS)
    assert collector.rows + sum(collector.dropped.values()) == REQUESTS, log
    # The collector stayed behind, and still heard of the drops.
    assert collector.dropped["buffer_full"] > 0
    assert "not delivered" not in log


def test_collector_down_at_exit_is_one_line_with_the_number(
    tmp_path: Path,
) -> None:
    log = leave(tmp_path / "nobody.sock", "exit", 50, grace="0.2")
    lines = [line for line in log.splitlines() if "not delivered" in line]
    assert len(lines) == 1, log
    assert re.match(r"50 metric samples not delivered to \S+nobody.sock", lines[0])
