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

"""ironic-api under uWSGI through the wrapper, driven by the client.

ironic from its release runs under uWSGI (see ``tests/openstack/tier.py``)
with the lines ``deployment.rst`` gives for it, on SQLite, without
authentication and without a conductor: its database holds a registered
conductor and two nodes, and its calls to the conductor go to a port
nothing listens on.  python-openstackclient's ``baremetal`` commands run
twice on copies of the same database, with and without the wrapper: the
client must print the same thing both times, the collector must count
exactly what uWSGI logged, and every route label must be a template.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
import dataclasses
import os
from pathlib import Path
import time
from typing import Any

import pytest

from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import servers
from tests.openstack import tier

pytestmark = pytest.mark.skipif(
    not (tier.VENV / "bin" / "openstack").exists()
    or not (tier.VENV / "bin" / "ironic-dbsync").exists(),
    reason="no .venv-openstack with ironic: tools/test.sh makes it",
)



@dataclasses.dataclass
class Run:
    output: str
    errors: str
    access: list[tuple[str, str, int]]
    ini: list[str]
    series: servers.Series = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Runs:
    uuids: dict[str, str]
    plain: Run
    measured: Run
    seconds: float


def _run(workdir: Path, service: tier.Service, filtered: bool,
         uuids: dict[str, str]) -> Run:
    with tier.Servers(workdir, {"ironic": service}, filtered) as running:
        session = tier.baremetal_session(uuids, workdir / "steps.json")
        result = tier.shell(tier.noauth_env(service), session, timeout=120)
    server = running.servers["ironic"]
    return Run(result.stdout, result.stderr, server.access(),
               server.ini.read_text().splitlines())


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    began = time.monotonic()
    root = tmp_path_factory.mktemp("ironic")
    os.chmod(root, 0o755)
    base = root / "base"
    base.mkdir()
    uuids = dict(zip(tier.NODES, tier.build_ironic(base, tier.NODES), strict=True))
    plain, measured = root / "plain", root / "measured"
    plain.mkdir()
    measured.mkdir()
    done: dict[str, Run] = {}
    with CollectorProcess(workdir=root) as collector:
        tier.copy_ironic(base, plain, socket=None)
        tier.copy_ironic(base, measured, collector.socket_path)
        # Two servers on copies of one database: the runs are independent
        # (the client's output names no port), so they run side by side.
        tier.in_parallel(
            lambda: done.update(plain=_run(
                plain, tier.ironic_service(), False, uuids)),
            lambda: done.update(measured=_run(
                measured, tier.ironic_service(), True, uuids)),
        )
        found = done["measured"]
        # The server has stopped: each worker delivered as it left.
        servers.wait_for(
            collector,
            lambda s: servers.requests_counted(s) >= len(found.access), 30,
        )
        found.series = servers.settle(collector)
    yield Runs(uuids, done["plain"], found, time.monotonic() - began)


def labelled(series: servers.Series) -> Counter[tuple[Any, ...]]:
    """(service, method, route, status) request counts the collector holds."""
    return servers.requests_by(series, "service", "method", "route", "status")


def test_uwsgi_loads_ironic_with_the_lines_of_the_guide(runs: Runs) -> None:
    guide = (tier.REPO / "doc/source/deployment.rst").read_text()
    # The first ironic block is uWSGI's, the second mod_wsgi's.
    block = guide.split("\nironic::\n\n", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip() for line in block.splitlines()]
    assert lines == [
        f"module = {tier.WRAPPER}",
        "env = OSLO_METRICS_WRAP_APP=ironic.wsgi:application",
        "env = OSLO_METRICS_SERVICE_NAME=baremetal",
    ]
    assert set(lines) <= set(runs.measured.ini)
    assert not set(lines) & set(runs.plain.ini)
    assert "module = ironic.wsgi:application" in runs.plain.ini


def test_the_client_sees_the_same_with_and_without_the_wrapper(runs: Runs) -> None:
    fixed = (*runs.uuids.values(), tier.CHASSIS, tier.NEW_NODE, tier.MISSING)
    plain, measured = runs.plain, runs.measured
    assert tier.normalised(measured.output, fixed) == tier.normalised(
        plain.output, fixed)
    assert tier.normalised(measured.errors, fixed) == tier.normalised(
        plain.errors, fixed)
    # The session really reached ironic: nodes, drivers, chassis, errors.
    for expected in (*tier.NODES, *runs.uuids.values(), "fake-hardware",
                     "second", tier.TEMPLATE, "apply_configuration"):
        assert expected in plain.output, expected
    for expected in (f"Node {tier.MISSING_NODE} could not be found",
                     f"Node {tier.MISSING} could not be found",
                     f"Chassis {tier.CHASSIS} could not be found",
                     f"Deploy template {tier.TEMPLATE} could not be found"):
        assert expected in plain.errors, (expected, plain.errors)
    print(f"ironic: both runs in {runs.seconds:.1f} s")


def test_the_collector_counts_what_uwsgi_logged(runs: Runs) -> None:
    measured = runs.measured
    logged = Counter(("baremetal", method, status)
                     for method, _, status in measured.access)
    counted = servers.requests_by(measured.series, "service", "method", "status")
    assert counted == logged
    assert servers.total(measured.series, servers.DROPPED) == 0
    # The same requests reached the server in both runs.
    assert measured.access == runs.plain.access
    assert {status for _, _, status in measured.access} == {200, 201, 204, 404, 500}


def test_every_route_label_is_a_template(runs: Runs) -> None:
    found = labelled(runs.measured.series)
    assert {service for service, _, _, _ in found} == {"baremetal"}
    by_route = Counter({(method, route, status): amount
                        for (_, method, route, status), amount in found.items()})
    assert by_route == tier.BAREMETAL_REQUESTS
    for _, _, route, _ in found:
        for secret in tier.baremetal_names(runs.uuids):
            assert secret not in route, (secret, route)
