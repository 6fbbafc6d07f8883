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

"""Projects through keystonemiddleware's auth_token, counted by the real
collector; hostile project ids sent as datagrams stay within the budget."""

from __future__ import annotations

import json
import os
from pathlib import Path
import re
import subprocess
import time

import pytest

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import collectors

REPO = Path(__file__).resolve().parents[2]
OPENSTACK_PYTHON = REPO / ".venv-openstack" / "bin" / "python"
OTHER = "__other__"


def _counted(collector: CollectorProcess) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = {}
    for line in collector.scrape().splitlines():
        if line.startswith("openstack_api_project_requests_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            found.setdefault(labels["service"], {})[labels["project"]] = float(
                line.rsplit(" ", 1)[1]
            )
    return found


def _requests(collector: CollectorProcess) -> dict[tuple[str, str], float]:
    """Requests measured, by service and status."""
    found: dict[tuple[str, str], float] = {}
    for line in collector.scrape().splitlines():
        if line.startswith("openstack_api_request_duration_seconds_count{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            key = (labels["service"], labels["status"])
            found[key] = found.get(key, 0) + float(line.rsplit(" ", 1)[1])
    return found


@pytest.mark.timeout(120)
def test_auth_token_projects_are_counted_exactly(tmp_path: Path) -> None:
    if not OPENSTACK_PYTHON.exists():
        pytest.skip("no .venv-openstack: tools/test.sh makes it")
    options = {"top_projects": 3, "project_window": 1}
    with CollectorProcess(tmp_path, options=options) as collector:
        out = tmp_path / "projects.json"
        result = subprocess.run(
            [
                str(OPENSTACK_PYTHON),
                "-m",
                "tests.openstack.projects",
                "--socket",
                str(collector.socket_path),
                "--metrics",
                collector.metrics_url,
                "--out",
                str(out),
            ],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        data = json.loads(out.read_text())
        sent: dict[str, int] = data["sent"]
        # Two pipelines per request, then a spoofed header with a valid
        # token, with an invalid one, and with none.
        assert data["statuses"] == [200] * 2 * sum(sent.values()) + [200, 401, 401]
        after = _counted(collector)
        measured = _requests(collector)
        before = data["before"]
    first = next(iter(sent))
    expected = {**sent, first: sent[first] + 1}  # the spoofed header's request
    named = after["compute"]
    assert set(named) == {*sent, OTHER}
    for project, count in expected.items():
        assert named[project] - before["compute"][project] == count
    assert named[OTHER] == before["compute"][OTHER]
    # No project series for the filter with project_attribution = false,
    # though it measured every request.
    assert "compute-off" not in after
    assert measured[("compute-off", "200")] == sum(sent.values())
    # Every authenticated request carried its project; the two refused by
    # auth_token carried none.
    assert sum(named.values()) == measured[("compute", "200")]
    assert measured[("compute", "401")] == 2


@pytest.mark.timeout(60)
def test_hostile_project_ids_stay_within_the_budget(tmp_path: Path) -> None:
    options = {"top_projects": 2, "project_window": 1}
    hostile = ["x" * 64 + "y", "é", "a b", "../../x", "__other__", "a\u0661", "ok"]
    with CollectorProcess(tmp_path, options=options) as collector:
        sent = 0
        for round_number in range(3):
            rows = [
                protocol.sample("image", "GET", "/v2/images", 200, 0.001, project=p)
                for p in hostile * 20
            ]
            rows += [
                protocol.sample(
                    "image",
                    "GET",
                    "/v2/images",
                    200,
                    0.001,
                    project=f"{round_number * 1000 + n:032x}",
                )
                for n in range(200)
            ]
            for start in range(0, len(rows), protocol.MAX_ROWS):
                chunk = rows[start : start + protocol.MAX_ROWS]
                collectors.send(
                    collector.socket_path,
                    *(d for d, _ in protocol.split_for_datagrams(chunk)),
                )
            sent += len(rows)
            time.sleep(1.1)
        deadline = time.monotonic() + 10
        while sum(_counted(collector).get("image", {}).values()) < sent:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        named = _counted(collector)["image"]
    assert sum(named.values()) == sent
    assert len(named) <= 2 + 1
    # Only "ok" can be a label of those sent 20 times a window.
    assert set(named) <= {OTHER, "ok"} | {f"{n:032x}" for n in range(3000)}
