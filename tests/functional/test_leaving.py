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

"""Every request is delivered or counted, however the process leaves.

A slow reader plays a collector that is behind for the whole run: the
sender fills its buffer, drops and counts, and must still account for
every request when the process ends.
"""

from __future__ import annotations

import os
from pathlib import Path
import re
import subprocess
import sys
import time

import pytest

from oslo_metrics_middleware import spool
from oslo_metrics_middleware.collector.process import CollectorProcess
from oslo_metrics_middleware.collector.spool import POLL_INTERVAL
from tests.functional import servers
from tests.functional.servers import REPO
from tests.functional.servers import DatagramCollector

# About twice what the kernel queue of the collector's socket (11 datagrams
# of 400 samples with Linux's default max_dgram_qlen) and the filter's
# 2,000-sample buffer hold together, so a collector that stays behind
# makes the buffer overflow whatever the timing.
REQUESTS = 12000


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
    with DatagramCollector(path, pause=0.05) as collector:
        log = leave(path, how, REQUESTS)
    assert collector.accounted == REQUESTS, log
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


def _counted(series: servers.Series) -> dict[str, float]:
    """Requests the collector counted, delivered and dropped by reason."""
    counted = {"delivered": servers.requests_counted(series)}
    for (name, labels), amount in series.items():
        if name == servers.DROPPED and amount:
            found = dict(labels)
            counted[f"{found['service']}/{found['reason']}"] = amount
    return counted


@pytest.mark.parametrize(
    ("filled", "expected"),
    [
        (0, {"delivered": 50}),
        # Room for a count, none for the samples: dropped, with their reason.
        (spool.DATA_BYTES, {"delivered": 0, "compute/exit": 50}),
    ],
)
def test_collector_down_at_exit_hears_of_every_request_when_back(
    tmp_path: Path, filled: int, expected: dict[str, float]
) -> None:
    path = tmp_path / "metrics.sock"
    collector = CollectorProcess(workdir=tmp_path, socket_path=path)
    collector.start()  # makes the spool
    collector.stop()
    with open(f"{spool.directory_of(str(path))}/filler.part", "wb") as filler:
        filler.truncate(filled)
    log = leave(path, "exit", 50, grace="0.2")
    try:
        collector.start()
        series = servers.wait_for(
            collector, lambda s: sum(_counted(s).values()) >= 50, timeout=5
        )
        time.sleep(0.2)  # nothing more may arrive
        series = servers.scrape(collector)
    finally:
        collector.stop()
    assert _counted(series) == expected, log
    # The spool is left empty but for the filler.
    assert os.listdir(spool.directory_of(str(path))) == ["filler.part"]


def test_full_spool_at_exit_is_one_line_with_the_number(tmp_path: Path) -> None:
    path = tmp_path / "metrics.sock"
    directory = Path(spool.directory_of(str(path)))
    directory.mkdir(mode=0o2770)
    with open(directory / "filler.part", "wb") as filler:
        filler.truncate(spool.MAX_BYTES)
    log = leave(path, "exit", 50, grace="0.2")
    lines = [line for line in log.splitlines() if "not delivered" in line]
    assert lines == [
        f"50 metric samples not delivered to {path} before exit (collector "
        f"down or behind; waited 0.2 s; spool {directory} is full (1 files, "
        f"{spool.MAX_BYTES} bytes))"
    ]


def test_a_running_collector_reads_what_appears_in_its_spool(
    tmp_path: Path,
) -> None:
    """The socket is moved away under a running collector: the process
    cannot reach it, spools, and the collector reads it within a poll."""
    path = tmp_path / "metrics.sock"
    with CollectorProcess(workdir=tmp_path, socket_path=path) as collector:
        path.rename(tmp_path / "moved.sock")
        log = leave(path, "exit", 50, grace="0.2")
        spooled = time.monotonic()
        series = servers.wait_for(
            collector, lambda s: servers.requests_counted(s) >= 50, timeout=5
        )
        delay = time.monotonic() - spooled
        (tmp_path / "moved.sock").rename(path)  # removed by the collector
    assert _counted(series) == {"delivered": 50}, log
    # One poll interval, and a margin for scrapes on a busy machine.
    assert delay < POLL_INTERVAL + 1.0
