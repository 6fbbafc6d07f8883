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

"""Real OpenStack API apps from their releases, measured by the filter.

Each service is built and driven by ``tests/openstack/drive.py`` in the
OpenStack venv (``.venv-openstack``, made by ``tools/test.sh``; their pins
clash with ours), sending its samples to a real collector started here.
The services with a paste file load it as ``oslo-metrics-middleware paste
add`` wrote it: every app, pipeline and composite of it loads, and every
pipeline string of it, built as paste's pipeline factories build it, is
sent a request that must be measured under the service's name.
Every label must be the one the router's own table (Routes' mapper,
Flask's URL map, or for ironic its controller tree) gives, and no id or
name sent may appear in any label.
"""

from __future__ import annotations

from collections import Counter
import json
import os
from pathlib import Path
import subprocess

import pytest

from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional.test_placement import scrape_rows

REPO = Path(__file__).resolve().parents[2]
OPENSTACK_PYTHON = REPO / ".venv-openstack" / "bin" / "python"
UNMATCHED = "__unmatched__"


def drive(service: str, collector: CollectorProcess, workdir: Path) -> dict[str, list]:
    if not OPENSTACK_PYTHON.exists():
        pytest.skip("no .venv-openstack: tools/test.sh makes it")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [
            str(OPENSTACK_PYTHON),
            "-m",
            "tests.openstack.drive",
            service,
            "--socket",
            str(collector.socket_path),
            "--workdir",
            str(workdir),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data: dict[str, list] = json.loads((workdir / "sent.json").read_text())
    return data


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    "service",
    ["cinder", "glance", "heat", "ironic", "keystone", "manila", "neutron", "nova"],
)
def test_every_label_is_the_routers_own(
    service: str, collector: CollectorProcess, tmp_path: Path
) -> None:
    data = drive(service, collector, tmp_path)
    sent = data["sent"]
    counts = scrape_rows(collector, len(sent))

    expected = Counter(
        (method, label, str(status)) for method, _, status, label in sent
    )
    assert sum(counts.values()) == len(sent)
    labelled = {key: int(count) for key, count in counts.items()}
    differing = set(labelled.items()) ^ set(expected.items())
    assert sorted(differing) == [], "\n".join(map(str, sorted(differing)))
    routed = [row for row in sent if row[3] != UNMATCHED]
    assert len(routed) >= 20
    for route in {route for _, route, _ in counts}:
        for secret in data["secrets"]:
            assert secret not in route, (secret, route)
