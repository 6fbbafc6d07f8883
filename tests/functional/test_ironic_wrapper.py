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

import pytest

from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import servers
from tests.openstack import tier

pytestmark = pytest.mark.skipif(
    not (tier.VENV / "bin" / "openstack").exists()
    or not (tier.VENV / "bin" / "ironic-dbsync").exists(),
    reason="no .venv-openstack with ironic: tools/test.sh makes it",
)

NAMES = ("bm-node-a", "bm-node-b")
CHASSIS = "5c3e9a1f-2b7d-4e6a-9f08-1d4c7b2e6a93"
NEW_NODE = "8d2f6b4a-1e3c-4a7f-b5d9-0c6e2a8f4b17"
MISSING_NAME = "bm-no-such-node"
Key = tuple[str, str, int]


def session(uuids: dict[str, str]) -> list[str]:
    """The ``baremetal`` commands, one session.

    Reads work without a conductor, and so do chassis, which the API
    writes to the database itself; creating, changing and deleting a node
    are RPC calls to a conductor, so they answer 500 here.
    """
    first, second = NAMES
    return [
        "baremetal driver list",
        "baremetal driver show fake-hardware -f json",
        "baremetal node list",
        "baremetal node list --long -f json",
        f"baremetal node show {uuids[first]} -f json",
        f"baremetal node show {second} -f json",
        f"baremetal node trait list {first}",
        f"baremetal port list --node {uuids[first]}",
        f"baremetal node show {MISSING_NAME}",
        f"baremetal node show {tier.MISSING}",
        f"baremetal node create --driver fake-hardware --name bm-new --uuid {NEW_NODE}",
        f"baremetal node set {first} --description changed",
        f"baremetal node delete {second}",
        f"baremetal chassis create --uuid {CHASSIS} --description first -f json",
        f"baremetal chassis set {CHASSIS} --description second",
        f"baremetal chassis show {CHASSIS} -f json",
        "baremetal chassis list",
        f"baremetal chassis delete {CHASSIS}",
        f"baremetal chassis show {CHASSIS}",
    ]


@dataclasses.dataclass
class Run:
    output: str
    errors: str
    access: list[tuple[str, str, int]]
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
        result = tier.shell(tier.noauth_env(service), session(uuids), timeout=120)
    return Run(result.stdout, result.stderr, running.access()["ironic"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    began = time.monotonic()
    root = tmp_path_factory.mktemp("ironic")
    os.chmod(root, 0o755)
    service = tier.ironic_service()
    base = root / "base"
    base.mkdir()
    uuids = dict(zip(NAMES, tier.build_ironic(base, NAMES), strict=True))

    plain = root / "plain"
    plain.mkdir()
    tier.copy_ironic(base, plain, socket=None)
    without = _run(plain, service, False, uuids)

    measured = root / "measured"
    measured.mkdir()
    with CollectorProcess(workdir=root) as collector:
        tier.copy_ironic(base, measured, collector.socket_path)
        found = _run(measured, service, True, uuids)
        # The server has stopped: each worker delivered as it left.
        servers.wait_for(
            collector,
            lambda s: servers.requests_counted(s) >= len(found.access), 30,
        )
        found.series = servers.settle(collector)
    yield Runs(uuids, without, found, time.monotonic() - began)


def labelled(series: servers.Series) -> Counter[tuple[str, str, str, int]]:
    """(service, method, route, status) request counts the collector holds."""
    found: Counter[tuple[str, str, str, int]] = Counter()
    for (name, labels), amount in series.items():
        if name == f"{servers.DURATION}_count" and amount:
            label = dict(labels)
            key = (label["service"], label["method"], label["route"],
                   int(label["status"]))
            found[key] += int(amount)
    return found


def test_the_client_sees_the_same_with_and_without_the_wrapper(runs: Runs) -> None:
    fixed = (*runs.uuids.values(), CHASSIS, NEW_NODE, tier.MISSING)
    plain, measured = runs.plain, runs.measured
    assert tier.normalised(measured.output, fixed) == tier.normalised(
        plain.output, fixed)
    assert tier.normalised(measured.errors, fixed) == tier.normalised(
        plain.errors, fixed)
    # The session really reached ironic: nodes, drivers, chassis, errors.
    for expected in (*NAMES, *runs.uuids.values(), "fake-hardware", "second"):
        assert expected in plain.output, expected
    for expected in (f"Node {MISSING_NAME} could not be found",
                     f"Node {tier.MISSING} could not be found",
                     f"Chassis {CHASSIS} could not be found"):
        assert expected in plain.errors, (expected, plain.errors)
    print(f"ironic: both runs in {runs.seconds:.1f} s")


def test_the_collector_counts_what_uwsgi_logged(runs: Runs) -> None:
    measured = runs.measured
    logged = Counter(("baremetal", method, status)
                     for method, _, status in measured.access)
    counted: Counter[Key] = Counter()
    for (service, method, _, status), amount in labelled(measured.series).items():
        counted[service, method, status] += amount
    assert counted == logged
    assert servers.total(measured.series, servers.DROPPED) == 0
    # The same requests reached the server in both runs.
    assert measured.access == runs.plain.access
    assert {status for _, _, status in measured.access} == {200, 201, 204, 404, 500}


# (method, route, status) of each request the session makes.
EXPECTED = Counter({
    ("GET", "/v1/drivers", 200): 1,
    ("GET", "/v1/drivers/{driver_name}", 200): 1,
    ("GET", "/v1/nodes", 200): 1,
    ("GET", "/v1/nodes/detail", 200): 1,
    ("GET", "/v1/nodes/{node_ident}", 200): 2,
    ("GET", "/v1/nodes/{node_ident}", 404): 2,
    ("GET", "/v1/nodes/{node_ident}/traits", 200): 1,
    ("GET", "/v1/ports", 200): 1,
    ("POST", "/v1/nodes", 500): 1,
    ("PATCH", "/v1/nodes/{node_ident}", 500): 1,
    ("DELETE", "/v1/nodes/{node_ident}", 500): 1,
    ("POST", "/v1/chassis", 201): 1,
    ("PATCH", "/v1/chassis/{chassis_uuid}", 200): 1,
    ("GET", "/v1/chassis/{chassis_uuid}", 200): 1,
    ("GET", "/v1/chassis/{chassis_uuid}", 404): 1,
    ("GET", "/v1/chassis", 200): 1,
    ("DELETE", "/v1/chassis/{chassis_uuid}", 204): 1,
})


def test_every_route_label_is_a_template(runs: Runs) -> None:
    found = labelled(runs.measured.series)
    assert {service for service, _, _, _ in found} == {"baremetal"}
    by_route = Counter({(method, route, status): amount
                        for (_, method, route, status), amount in found.items()})
    assert by_route == EXPECTED
    secrets = {*NAMES, *runs.uuids.values(), CHASSIS, NEW_NODE, MISSING_NAME,
               tier.MISSING, "fake-hardware", "bm-new"}
    for _, _, route, _ in found:
        for secret in secrets:
            assert secret not in route, (secret, route)
