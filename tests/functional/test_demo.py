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

"""The README's demo command, run as a user runs it."""

from __future__ import annotations

from collections.abc import Callable
import ctypes
import os
from pathlib import Path
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

DEMO = [sys.executable, "-m", "oslo_metrics_middleware.cmd", "demo"]


def test_demo_prints_a_table_of_every_endpoint() -> None:
    done = subprocess.run(
        [*DEMO, "--requests", "400", "--concurrency", "4"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "400/400 requests" in done.stderr
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("service"))
    rows = [line.split() for line in lines[header + 2 :] if line.strip()]
    routes = {(row[1], row[2]) for row in rows}
    assert ("GET", "/v2.1/servers/{id}") in routes
    assert ("POST", "/v2.1/servers/{id}/action") in routes
    assert ("GET", "/v2.1/os-hypervisors/statistics") in routes
    assert sum(int(row[3]) for row in rows) == 400
    crash = next(row for row in rows if row[2] == "/v2.1/os-crash")
    assert crash[4] == "100.0"


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _to_process_group(pid: int, signum: int) -> None:
    """What Ctrl-C in a terminal does."""
    os.killpg(pid, signum)


def _to_another_thread(pid: int, signum: int) -> None:
    """A process-directed signal may land on any thread; force the case
    where it is not the main one."""
    others = [int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid]
    assert others, "the serving demo runs a server thread"
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.tgkill(pid, others[0], signum) == 0, ctypes.get_errno()


@pytest.mark.parametrize(
    ("signum", "send"),
    [
        (signal.SIGINT, _to_process_group),
        (signal.SIGINT, _to_another_thread),
        (signal.SIGTERM, _to_another_thread),
    ],
    ids=["ctrl-c", "sigint-other-thread", "sigterm-other-thread"],
)
def test_demo_serve_stops_cleanly_on_ctrl_c(
    tmp_path: Path, signum: int, send: Callable[[int, int], None]
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process = subprocess.Popen(
        [*DEMO, "--requests", "50", "--serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(scratch)},
    )
    try:
        assert process.stdout is not None
        output = ""
        deadline = time.monotonic() + 60
        while "Serving" not in output and time.monotonic() < deadline:
            output += process.stdout.readline()
        metrics_port = int(re.search(r"Metrics: http://127.0.0.1:(\d+)", output)[1])  # type: ignore[index]
        api_port = int(re.search(r"API: +http://127.0.0.1:(\d+)", output)[1])  # type: ignore[index]
        assert _listening(metrics_port) and _listening(api_port)
        assert list(scratch.iterdir()) != []  # the collector's folder
        send(process.pid, signum)
        assert process.wait(timeout=60) == 0
        assert "Stopping." in process.stdout.read()
        assert not _listening(metrics_port)
        assert not _listening(api_port)
        leftovers = subprocess.run(
            ["pgrep", "-s", str(process.pid)], capture_output=True, text=True
        )
        assert leftovers.stdout == ""
        assert list(scratch.iterdir()) == []
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
