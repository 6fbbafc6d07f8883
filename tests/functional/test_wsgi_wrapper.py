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

"""The wrapper entry point under real servers, in front of real services.

uWSGI refuses an application that is not installed with the wrapper's one
line.  keystone, placement and ironic run in one Apache with mod_wsgi, each
in its own daemon process group, configured with the lines
``deployment.rst`` gives; python-openstackclient drives them and the
collector must count exactly what Apache logged.  (The same services under
uWSGI are in ``test_api_tier.py`` and ``test_ironic_wrapper.py``.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
import dataclasses
import os
from pathlib import Path
import shutil
import subprocess
import tempfile

import pytest

from oslo_metrics_middleware import wsgi
from oslo_metrics_middleware.collector.process import CollectorProcess
from oslo_metrics_middleware.collector.process import free_port
from tests.functional import servers
from tests.openstack import tier

WRAPPER_FILE = Path(wsgi.__file__)


def test_uwsgi_refuses_an_app_that_is_not_installed(tmp_path: Path) -> None:
    spec = "keystone_missing.wsgi.api:application"
    server = servers.uwsgi_server(
        tmp_path, {"OSLO_METRICS_WRAP_APP": spec}, processes=1,
        app=tier.WRAPPER,
    )
    with pytest.raises(servers.ServerError):
        server.start(timeout=20)
    lines = [line for line in server.log().splitlines()
             if line.startswith(wsgi.PROG)]
    assert lines == [
        f"{wsgi.PROG}: error: OSLO_METRICS_WRAP_APP={spec}: cannot import "
        "keystone_missing.wsgi.api: ModuleNotFoundError: No module named "
        "'keystone_missing'"
    ]


APACHE_LOGS = """\
LogFormat "ACCESS %m %U%q %>s" access
CustomLog {workdir}/access.log access
<Directory {wrapper_dir}>
    Require all granted
</Directory>
"""

# What deployment.rst shows, with the test's paths (and python-path in
# place of an installed package).
SERVICE_CONF = """\
WSGIDaemonProcess {group} processes=2 threads=1 {python} display-name=%{{GROUP}}
WSGIScriptAlias {prefix} {wrapper}
<Location {prefix}>
    WSGIProcessGroup {group}
    WSGIApplicationGroup %{{GLOBAL}}
{setenv}
</Location>
"""


def apache_conf(workdir: Path, port: int, python_path: str,
                services: dict[str, tier.Service]) -> Path:
    text = servers.apache_head(workdir, port, ["env"]) + APACHE_LOGS.format(
        workdir=workdir, wrapper_dir=WRAPPER_FILE.parent,
    )
    settings = {
        "keystone": ("keystone-public", {
            "OSLO_METRICS_WRAP_APP": services["keystone"].module,
            "OSLO_METRICS_SERVICE_NAME": "identity",
        }),
        "placement": ("placement-api", {
            "OSLO_METRICS_WRAP_APP": services["placement"].module,
            "OSLO_METRICS_SERVICE_NAME": "placement",
            "OSLO_METRICS_CONFIG_PROJECT": "placement",
            "OSLO_METRICS_CONFIG_FILE": str(
                tier.config_file(workdir, "placement")),
        }),
        "ironic": ("ironic-api", {
            "OSLO_METRICS_WRAP_APP": services["ironic"].module,
            "OSLO_METRICS_SERVICE_NAME": "baremetal",
        }),
    }
    for name, (group, env) in settings.items():
        text += SERVICE_CONF.format(
            group=group, python=f"python-path={python_path}",
            prefix=services[name].prefix, wrapper=WRAPPER_FILE,
            setenv="\n".join(f"    SetEnv {k} {v}" for k, v in env.items()),
        )
    path = workdir / "apache.conf"
    path.write_text(text)
    return path


@dataclasses.dataclass
class ApacheRun:
    output: str
    errors: str
    # ironic's session, and its nodes' uuids by name
    baremetal: subprocess.CompletedProcess[str]
    uuids: dict[str, str]
    access: list[tuple[str, str, int]]
    series: servers.Series
    log: str


@pytest.fixture(scope="module")
def apache_run() -> Iterator[ApacheRun]:
    if not servers.APACHE.exists():
        pytest.skip("apache2 and libapache2-mod-wsgi-py3 are not installed")
    if not (tier.VENV / "bin" / "placement-manage").exists():
        pytest.skip("no .venv-openstack with placement: tools/test.sh makes it")
    # Apache's daemon processes run as nobody: everything they read is in
    # a directory open to all, the services' packages hard-linked there.
    root = Path(tempfile.mkdtemp(prefix="tier-apache-"))
    try:
        root.chmod(0o755)
        port = free_port()
        services = {
            "keystone": dataclasses.replace(
                tier.services()["keystone"], port=port, prefix="/identity"),
            "placement": dataclasses.replace(
                tier.services()["placement"], port=port, prefix="/placement"),
            "ironic": dataclasses.replace(
                tier.ironic_service(), port=port, prefix="/baremetal"),
        }
        site = root / "site-packages"
        subprocess.run(
            ["cp", "-al", str(next((tier.VENV / "lib").glob(
                "python3*/site-packages"))), str(site)], check=True)
        workdir = root / "services"
        workdir.mkdir()
        with CollectorProcess(workdir=root) as collector:
            os.chmod(collector.socket_path, 0o666)
            built: list[str] = []
            tier.in_parallel(
                lambda: tier.build(workdir, {
                    name: services[name] for name in ("keystone", "placement")
                }, catalog=False),
                lambda: built.extend(tier.build_ironic(workdir, tier.NODES)),
            )
            uuids = dict(zip(tier.NODES, built, strict=True))
            tier.write_configs(workdir, services, collector.socket_path)
            tier.write_ironic_config(workdir, collector.socket_path)
            subprocess.run(["chown", "-R", "nobody:nogroup", str(workdir)],
                           check=os.getuid() == 0)
            conf = apache_conf(workdir, port, f"{tier.REPO}:{site}", services)
            # mod_wsgi's daemon processes do not inherit Apache's
            # environment: where a host keeps the services' files in
            # /etc/keystone, /etc/placement and /etc/ironic, the test's are
            # named here (ironic's as ~/.ironic/, where oslo.config looks).
            home = workdir / "home"
            home.mkdir()
            (home / ".ironic").symlink_to(workdir / "ironic")
            config_dirs = {
                "OS_KEYSTONE_CONFIG_DIR": str(workdir / "keystone"),
                "OS_PLACEMENT_CONFIG_DIR": str(workdir / "placement"),
                "HOME": str(home),
            }
            (site / "tier-config-dirs.pth").write_text(
                f"import os; os.environ.update({config_dirs!r})\n")
            server = servers.ServerProcess(
                "apache", [str(servers.APACHE), "-f", str(conf), "-DFOREGROUND"],
                port, workdir, {},
            )
            with server:
                # A session's token carries the catalog of its start.
                catalog = tier.openstack(services["keystone"], tier.catalog_commands(
                    {"placement": services["placement"]}))
                assert "| service_type " in catalog.stdout, catalog.stderr
                result = tier.openstack(services["keystone"], [
                    "token issue -f value -c project_id",
                    "user list -f value -c Name",
                    "project create apache-project -f value -c name",
                    "project show no-such-project",
                    "project delete apache-project",
                    f"resource provider create apache-rp --uuid {tier.PROVIDER}"
                    " -f value -c name",
                    "resource provider list -f value -c name",
                    f"resource provider show {tier.MISSING}",
                    f"resource provider delete {tier.PROVIDER}",
                ])
                session = tier.baremetal_session(uuids, workdir / "steps.json")
                baremetal = tier.shell(tier.noauth_env(services["ironic"]), session)
            access = []
            for line in (workdir / "access.log").read_text().splitlines():
                match = tier.ACCESS.match(line)
                assert match, line
                access.append((match[1], match[2], int(match[3])))
            # Every daemon process delivered as Apache stopped it.  Apache
            # answers the server's health probe itself: not a request of
            # any service.
            mounted = {service.prefix for service in services.values()}
            served = sum(1 for _, uri, _ in access
                         if "/" + uri.split("/")[1] in mounted)
            series = servers.wait_for(
                collector, lambda s: servers.requests_counted(s) >= served, 30,
            )
            log = (workdir / "apache-error.log").read_text(errors="replace")
            yield ApacheRun(result.stdout, result.stderr, baremetal, uuids,
                            access, series, log)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_keystone_and_placement_answer_through_the_wrapper(
    apache_run: ApacheRun,
) -> None:
    lines = apache_run.output.splitlines()
    assert "admin" in lines, (apache_run.errors, apache_run.log[-3000:])
    assert "apache-project" in lines
    assert lines.count("apache-rp") == 2
    assert "No Project found for no-such-project" in apache_run.errors
    assert f"No resource provider with uuid {tier.MISSING}" in apache_run.errors


def test_the_collector_counts_what_apache_logged(apache_run: ApacheRun) -> None:
    labels = {"identity": "identity", "placement": "placement",
              "baremetal": "baremetal"}
    # Apache answers the server's own probe itself, outside both services.
    logged = Counter(
        (labels[uri.split("/")[1]], method, status)
        for method, uri, status in apache_run.access
        if uri.split("/")[1] in labels
    )
    counted = servers.requests_by(apache_run.series, "service", "method", "status")
    assert counted == logged
    assert {service for service, _, _ in logged} == {
        "identity", "placement", "baremetal"}
    assert logged[("placement", "GET", 404)] >= 1
    assert logged[("identity", "GET", 404)] >= 1
    routes = {route for (route,) in servers.requests_by(apache_run.series, "route")}
    assert "/identity/v3/projects/{project_id}" in routes, routes
    assert "/placement/resource_providers/{uuid}" in routes, routes
    for route in routes:
        assert tier.PROVIDER not in route and tier.MISSING not in route


def test_ironic_answers_through_the_wrapper(apache_run: ApacheRun) -> None:
    result = apache_run.baremetal
    for expected in (*tier.NODES, *apache_run.uuids.values(), "fake-hardware"):
        assert expected in result.stdout, (expected, result.stderr,
                                           apache_run.log[-3000:])
    assert f"Node {tier.MISSING_NODE} could not be found" in result.stderr
    assert f"Chassis {tier.CHASSIS} could not be found" in result.stderr
    # Each request under its template, below the mount point.
    found = Counter({
        (method, route, status): amount
        for (service, method, route, status), amount in servers.requests_by(
            apache_run.series, "service", "method", "route", "status").items()
        if service == "baremetal"
    })
    assert found == Counter({
        (method, f"/baremetal{route}", status): amount
        for (method, route, status), amount in tier.BAREMETAL_REQUESTS.items()
    })
    for _, route, _ in found:
        for name in tier.baremetal_names(apache_run.uuids):
            assert name not in route, (name, route)
