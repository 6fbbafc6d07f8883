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

"""A real API tier driven by python-openstackclient, with and without the filter.

keystone, glance, placement and cinder from their releases, each under
uWSGI (see ``tests/openstack/tier.py``); the filter goes in through the
wrapper (keystone, placement) or the pipeline command (glance, cinder).
The same client sessions run twice on copies of the same databases: the
client must print the same thing both times, the collector must count
exactly what the servers logged, every label must be a template, and the
report must list each endpoint with the count the collector holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
import dataclasses
import json
import os
from pathlib import Path
import re
import time
from typing import Any

import pytest

from oslo_metrics_middleware.collector import projects
from oslo_metrics_middleware.collector.process import CollectorProcess
from oslo_metrics_middleware.report import cli as report_cli
from tests.functional import servers
from tests.openstack import tier
from tests.report.conftest import PrometheusServer

pytestmark = pytest.mark.skipif(
    not (tier.VENV / "bin" / "openstack").exists()
    or not (tier.VENV / "bin" / "placement-manage").exists(),
    reason="no .venv-openstack with the tier's services: tools/test.sh makes it",
)

IMAGE_BYTES = 24 * 1024 * 1024  # well over the sockets' buffers
PROJECT_WINDOW = 1  # seconds, the collector's least
UNMATCHED = "__unmatched__"


@dataclasses.dataclass
class Run:
    """What one run of the client sessions left behind."""

    output: str
    errors: str
    downloaded: bytes
    hung_up: int
    project: str
    access: dict[str, list[tuple[str, str, int]]]
    series: servers.Series = dataclasses.field(default_factory=dict)
    report: list[dict[str, object]] = dataclasses.field(default_factory=list)


def drive(workdir: Path, services: dict[str, tier.Service], image: Path) -> tuple[
    str, str, bytes, int, str
]:
    """Both client sessions, and a download the client hangs up on; the
    last item is the id of the project the client's tokens are scoped to."""
    keystone = services["keystone"]
    saved = workdir / "saved.img"
    first = tier.openstack(keystone, tier.first_session(image, saved))
    token = json.loads(tier.checked(tier.run(
        [str(tier.VENV / "bin" / "openstack"), "token", "issue", "-f", "json"],
        tier.client_env(keystone),
    )))
    hung_up = tier.hang_up(services["glance"], token["id"])
    # No token: whatever project the headers claim is not counted.
    assert tier.claim_a_project(services) == [200, 201, 401]
    second = tier.openstack(keystone, tier.second_session())
    return (first.stdout + second.stdout, first.stderr + second.stderr,
            saved.read_bytes(), hung_up, token["project_id"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    root = tmp_path_factory.mktemp("tier")
    os.chmod(root, 0o755)
    services = tier.services()
    base = root / "base"
    base.mkdir()
    began = time.monotonic()
    tier.build(base, services)
    built = time.monotonic() - began
    image = root / "image.raw"
    image.write_bytes(os.urandom(IMAGE_BYTES))
    results: dict[str, Run] = {}

    plain = root / "plain"
    plain.mkdir()
    tier.copy_base(base, plain, services, socket=None)
    with tier.Servers(plain, services, filtered=False) as running:
        output = drive(plain, services, image)
    results["plain"] = Run(*output, access=running.access())

    measured = root / "measured"
    measured.mkdir()
    # Windows of a second: a project is counted under its own id from the
    # second window boundary after its first request, seconds before the
    # sessions end; until then its requests are in __other__.
    with CollectorProcess(workdir=root,
                          options={"project_window": PROJECT_WINDOW}) as collector:
        prometheus = PrometheusServer(root, [f"127.0.0.1:{collector.port}"])
        prometheus.start()
        try:
            tier.copy_base(base, measured, services, collector.socket_path)
            start = time.time()
            with tier.Servers(measured, services, filtered=True) as running:
                output = drive(measured, services, image)
            # The servers have stopped: each worker delivered as it left.
            access = running.access()
            total = sum(len(lines) for lines in access.values())
            servers.wait_for(
                collector, lambda s: servers.requests_counted(s) >= total, 30
            )
            # The project counters are recorded after a datagram's requests.
            series = servers.settle(collector)
            prometheus.wait_for_count(int(servers.requests_counted(series)))
            report = _report(prometheus, start, time.time() + 2, root)
        finally:
            prometheus.stop()
    results["measured"] = Run(*output, access=access, series=series,
                              report=report)
    print(f"tier: built in {built:.1f} s, whole run {time.monotonic() - began:.1f} s")
    yield results


def _report(prometheus: PrometheusServer, start: float, end: float,
            workdir: Path) -> list[dict[str, object]]:
    output = workdir / "report.json"
    status = report_cli.main([
        "--prometheus", prometheus.url, "--start", f"{start:.3f}",
        "--end", f"{end:.3f}", "--step", "2s", "--format", "json",
        "--output", str(output), "--no-progress",
    ])
    assert status == 0
    endpoints: list[dict[str, object]] = json.loads(output.read_text())["endpoints"]
    return endpoints


def counted(series: servers.Series) -> Counter[tuple[Any, ...]]:
    """(service, method, status) request counts the collector holds."""
    return servers.requests_by(series, "service", "method", "status")


def routes(series: servers.Series) -> Counter[tuple[Any, ...]]:
    """(service, method, route) request counts the collector holds."""
    return servers.requests_by(series, "service", "method", "route")


def test_the_client_sees_the_same_with_and_without_the_filter(
    runs: dict[str, Run],
) -> None:
    plain, measured = runs["plain"], runs["measured"]
    assert tier.normalised(measured.output) == tier.normalised(plain.output)
    assert measured.errors.splitlines() == plain.errors.splitlines()
    assert len(measured.downloaded) == len(plain.downloaded) == IMAGE_BYTES
    assert measured.downloaded == plain.downloaded
    # The sessions really exercised every service, errors included.
    for expected in ("tier-project", "tier-user", "tier-image", "tier-rp",
                     "tier-type", "tier-qos", "No User found for no-such-user"):
        assert expected in plain.output + plain.errors, expected
    assert measured.hung_up == plain.hung_up == 200


FILE_ROUTE = "/v2/images/{image_id}/file"


def test_the_collector_counts_what_the_servers_logged(runs: dict[str, Run]) -> None:
    measured = runs["measured"]
    logged = tier.logged(measured.access, tier.services())
    # The one download the client hung up on: uWSGI logs 200, the filter
    # 499, since the body was never sent to the end.
    expected = logged.copy()
    expected[("image", "GET", 200)] -= 1
    expected[("image", "GET", 499)] += 1
    assert counted(measured.series) == expected
    for service in ("identity", "image", "placement", "block-storage"):
        assert sum(n for (s, _, _), n in expected.items() if s == service) >= 8
    assert servers.total(measured.series, servers.DROPPED) == 0
    # Each status class the sessions provoke is there.
    statuses = {status for _, _, status in expected}
    assert {200, 201, 202, 204, 300, 401, 404, 499} <= statuses, statuses


def test_a_client_hanging_up_is_499_where_the_server_logs_200(
    runs: dict[str, Run],
) -> None:
    measured = runs["measured"]
    downloads = [line for line in measured.access["glance"]
                 if line == ("GET", f"/v2/images/{tier.IMAGE}/file", 200)]
    # image save, then the download the client hung up on
    assert len(downloads) == 2
    file_route = {"service": "image", "method": "GET", "route": FILE_ROUTE}
    count = f"{servers.DURATION}_count"
    assert servers.value(measured.series, count, status="200", **file_route) == 1
    assert servers.value(measured.series, count, status="499", **file_route) == 1


def from_logs(
    access: dict[str, list[tuple[str, str, int]]],
    templates: set[tuple[str, str, str]],
) -> Counter[tuple[str, str, str]]:
    """(service, method, route) counts of the servers' logs: each logged
    path under the most specific of ``templates`` it fits, or unmatched."""
    services = tier.services()
    patterns = []
    for service, method, route in templates:
        if route == UNMATCHED:
            continue
        pattern = re.escape(route)
        pattern = re.sub(r"\\\{[^/]*?\\\}", "[^/]+", pattern)
        patterns.append((route.count("{"), service, method, route,
                         re.compile(f"^{pattern}$")))
    patterns.sort()
    found: Counter[tuple[str, str, str]] = Counter()
    for name, lines in access.items():
        label = services[name].label
        for method, uri, status in lines:
            # A trailing slash is not part of a route.
            path = uri.partition("?")[0].rstrip("/") or "/"
            route = next(
                (r for _, s, m, r, compiled in patterns
                 if s == label and m == method and compiled.match(path)),
                UNMATCHED,
            )
            if status == 401:  # refused by authtoken, before any router
                route = UNMATCHED
            found[label, method, route] += 1
    return found


def test_every_label_is_a_template(runs: dict[str, Run]) -> None:
    measured = runs["measured"]
    secrets = set(re.findall(r"\b[0-9a-f]{32}\b|\b[0-9a-f-]{36}\b", measured.output))
    secrets |= {tier.IMAGE, tier.PROVIDER, tier.MISSING, "tier-project",
                "tier-user", "tier-image", "tier-rp", "tier-type", "tier-qos",
                "no-such-user", "no-such-project", "VCPU"}
    labelled = routes(measured.series)
    assert len(labelled) >= 25, labelled
    for _, _, route in labelled:
        for secret in secrets:
            assert secret not in route, (secret, route)
    # Templates the routers of these services define, by their own names.
    for key in (
        ("identity", "POST", "/v3/auth/tokens"),
        ("identity", "GET", "/v3/users/{user_id}"),
        ("image", "GET", "/v2/images/{image_id}/file"),
        ("image", "PUT", "/v2/images/{image_id}/file"),
        ("placement", "PUT", "/resource_providers/{uuid}/inventories"),
        ("block-storage", "GET", "/v3/types/{id}"),
    ):
        assert key in labelled, sorted(labelled)


def test_the_report_lists_each_endpoint_with_its_count(runs: dict[str, Run]) -> None:
    measured = runs["measured"]
    reported = {
        (str(e["service"]), str(e["method"]), str(e["route"])): e["requests"]
        for e in measured.report
    }
    held = routes(measured.series)
    assert reported == dict(held)
    # The same counts from the servers' own logs, path by path.
    assert from_logs(measured.access, set(held)) == held


PROJECT_COUNTERS = ("openstack_api_project_requests_total",
                    "openstack_api_project_busy_seconds_total")
# Version discovery, answered without a token: glance's version
# negotiation and cinder's version app sit in front of auth_token,
# placement's auth_token lets its root through, and keystone's own.
DISCOVERY = {"glance": {"/", "/versions"}, "placement": {"/"},
             "cinder": {"/"}, "keystone": {"/", "/v3"}}


def by_project(series: servers.Series, name: str, service: str) -> dict[str, float]:
    """One project counter of ``service``, by ``project`` label."""
    found: dict[str, float] = {}
    for (sample_name, labels), amount in series.items():
        label = dict(labels)
        if sample_name == name and label["service"] == service:
            found[label["project"]] = amount
    return found


def with_token(name: str, lines: list[tuple[str, str, int]]) -> int:
    """Requests of a server's log that carried a valid token: any answer
    but 401 (auth_token's refusal), on a path other than version discovery
    or keystone's issuing of a token (which takes a password)."""
    return sum(
        1 for method, uri, status in lines
        if status != 401
        and uri.partition("?")[0] not in DISCOVERY[name]
        and (method, uri) != ("POST", "/v3/auth/tokens")
    )


@pytest.mark.parametrize("name", ["glance", "placement", "cinder", "keystone"])
def test_each_request_with_a_token_counts_for_its_project(
    runs: dict[str, Run], name: str,
) -> None:
    """glance, placement and cinder behind auth_token; keystone through
    the wrapper, where keystone's own auth_token-based middleware sets the
    project of each request that carries a token (the services' token
    validations included, scoped to the same admin project)."""
    measured = runs["measured"]
    project = measured.project
    assert re.fullmatch(r"[0-9a-f]{32}", project), project
    label = tier.services()[name].label
    requests, busy = PROJECT_COUNTERS
    counts = by_project(measured.series, requests, label)
    # Only the project the client's tokens are scoped to is named, by its
    # id; what came while it was pending is in __other__.  The sessions
    # outlast two windows, so it is counted under its id by the end.
    assert set(counts) == {project, projects.OTHER}, counts
    assert counts[project] >= 1, counts
    expected = with_token(name, measured.access[name])
    assert expected >= 10, measured.access[name]
    assert sum(counts.values()) == expected, (counts, expected)
    # Busy time is kept under the same labels.
    seconds = by_project(measured.series, busy, label)
    assert set(seconds) == set(counts), seconds
    assert seconds[project] > 0, seconds
