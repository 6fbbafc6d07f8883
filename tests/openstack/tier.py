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

"""A real OpenStack API tier: keystone, glance, placement and cinder.

Each service runs under uWSGI from the OpenStack venv (``.venv-openstack``)
the way devstack runs it (master, two lazy-loaded workers, threads on), on
SQLite with the fake messaging transport.  The filter goes in through
``oslo_metrics_middleware.wsgi`` (keystone, placement) or the services'
own ``api-paste.ini`` (glance, cinder); without it the same servers load
the services' own entry points and paste files.

The databases are built once (:func:`build`) and copied for each run, so
runs with and without the filter start from the same state.  Every server
writes one access log line per request; the tests compare those with the
collector.

ironic runs apart from the tier (:func:`build_ironic`), without keystone
and without a conductor, driven by :func:`baremetal_session`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
import concurrent.futures
import configparser
import contextlib
import dataclasses
import http.client
import json
import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import sys
import time

from oslo_metrics_middleware.collector.process import free_port
from tests.openstack import drive

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv-openstack"
UWSGI = Path(sys.executable).parent / "uwsgi"
PASTE_COMMAND = Path(sys.executable).parent / "oslo-metrics-middleware"
PASSWORD = "tier-secret"
REGION = "RegionOne"
WRAPPER = "oslo_metrics_middleware.wsgi:application"
ACCESS = re.compile(r"^ACCESS (\S+) (\S+) (\d{3})$")
WAIT = 60.0
# Services uWSGI loads through the wrapper when the filter is on.
WRAPPED = ("keystone", "placement", "ironic")
# Files a run changes; everything else of the base is only read.
STATE = ("keystone.db", "glance.db", "placement.db", "cinder.db")


@dataclasses.dataclass(frozen=True)
class Service:
    """One API service: its label, port and how uWSGI loads it."""

    name: str
    label: str
    port: int
    module: str
    config_dir_env: str = ""
    # Where a server that holds several services mounts this one.
    prefix: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"


def services() -> dict[str, Service]:
    """The four services, each on a free loopback port."""
    return {
        "keystone": Service(
            "keystone", "identity", free_port(), "keystone.wsgi.api:application",
            "OS_KEYSTONE_CONFIG_DIR",
        ),
        "glance": Service(
            "glance", "image", free_port(), "glance.wsgi.api:application",
            "OS_GLANCE_CONFIG_DIR",
        ),
        "placement": Service(
            "placement", "placement", free_port(),
            "placement.wsgi.api:application", "OS_PLACEMENT_CONFIG_DIR",
        ),
        "cinder": Service(
            "cinder", "block-storage", free_port(),
            "cinder.wsgi.api:application",
        ),
    }


# -- configuration --------------------------------------------------------


def _ini(path: Path, sections: Mapping[str, Mapping[str, str]]) -> None:
    parser = configparser.RawConfigParser()
    for name, options in sections.items():
        if name != "DEFAULT":
            parser.add_section(name)
        for key, value in options.items():
            parser.set(name, key, value)
    with path.open("w") as out:
        parser.write(out)


def _authtoken(keystone: Service) -> dict[str, str]:
    return {
        "www_authenticate_uri": f"{keystone.url}/v3",
        "auth_url": f"{keystone.url}/v3",
        "auth_type": "password",
        "username": "admin",
        "password": PASSWORD,
        "project_name": "admin",
        "user_domain_id": "default",
        "project_domain_id": "default",
        # Only public endpoints are in the catalog.
        "interface": "public",
    }


def _metrics(socket: Path | None) -> dict[str, dict[str, str]]:
    """With ``socket``, the section that points the filter at the collector."""
    return (
        {"oslo_metrics_middleware": {
            "metrics_socket_file": str(socket), "flush_interval": "0.05",
        }} if socket else {}
    )


def write_configs(
    workdir: Path, tier: Mapping[str, Service], socket: Path | None
) -> None:
    """Each service's configuration under ``workdir/<service>/``.

    With ``socket``, the ``[oslo_metrics_middleware]`` section of each
    service's own file points the filter at the collector.
    """
    keystone = tier["keystone"]
    metrics = _metrics(socket)
    for name in ("keystone", "glance", "placement", "cinder"):
        (workdir / name).mkdir(exist_ok=True)
    _ini(workdir / "keystone" / "keystone.conf", {
        "database": {"connection": f"sqlite:///{workdir}/keystone.db"},
        "fernet_tokens": {"key_repository": f"{workdir}/keys/fernet"},
        # Read at start-up whether used or not; devstack shares the keys.
        "fernet_receipts": {"key_repository": f"{workdir}/keys/fernet"},
        "credential": {"key_repository": f"{workdir}/keys/credential"},
        **metrics,
    })
    _ini(workdir / "glance" / "glance-api.conf", {
        "DEFAULT": {
            "enabled_backends": "fs:file",
            "image_cache_dir": f"{workdir}/glance/cache",
        },
        "glance_store": {"default_backend": "fs"},
        "fs": {"filesystem_store_datadir": f"{workdir}/glance/images"},
        "os_glance_staging_store": {
            "filesystem_store_datadir": f"{workdir}/glance/staging"},
        "os_glance_tasks_store": {
            "filesystem_store_datadir": f"{workdir}/glance/tasks"},
        "database": {"connection": f"sqlite:///{workdir}/glance.db"},
        "oslo_messaging_notifications": {"driver": "noop"},
        "keystone_authtoken": _authtoken(keystone),
        "paste_deploy": {
            "flavor": "keystone",
            "config_file": f"{workdir}/glance/glance-api-paste.ini",
        },
        **metrics,
    })
    _ini(workdir / "placement" / "placement.conf", {
        "placement_database": {"connection": f"sqlite:///{workdir}/placement.db"},
        "api": {"auth_strategy": "keystone"},
        "keystone_authtoken": _authtoken(keystone),
        **metrics,
    })
    _ini(workdir / "cinder" / "cinder.conf", {
        "DEFAULT": {
            "transport_url": "fake:/",
            "rpc_response_timeout": "1",
            "auth_strategy": "keystone",
            "api_paste_config": f"{workdir}/cinder/api-paste.ini",
            "state_path": f"{workdir}/cinder",
        },
        "database": {"connection": f"sqlite:///{workdir}/cinder.db"},
        "oslo_concurrency": {"lock_path": f"{workdir}/cinder/locks"},
        "oslo_messaging_notifications": {"driver": "noop"},
        "keystone_authtoken": _authtoken(keystone),
        **metrics,
    })
    for service, name in (("glance", "glance-api-paste.ini"),
                          ("cinder", "api-paste.ini")):
        shutil.copyfile(VENV / "etc" / service / name, workdir / service / name)


def config_file(workdir: Path, service: str) -> Path:
    name = {"glance": "glance-api.conf"}.get(service, f"{service}.conf")
    return workdir / service / name


def uwsgi_ini(
    workdir: Path, service: Service, filtered: bool
) -> Path:
    """The service's uWSGI file, as devstack writes it, plus an access log.

    With the filter, keystone, placement and ironic load the wrapper,
    which names the service's own entry point (the lines
    ``deployment.rst`` shows).
    """
    wrapped = filtered and service.name in WRAPPED
    lines = [
        "[uwsgi]",
        "master = true",
        "processes = 2",
        "enable-threads = true",
        "lazy-apps = true",
        "die-on-term = true",
        "need-app = true",
        "buffer-size = 65535",
        f"http11-socket = 127.0.0.1:{service.port}",
        "http-chunked-input = true",
        "http-auto-chunked = true",
        "http-raw-body = true",
        f"home = {VENV.resolve()}",
        f"pythonpath = {REPO}",
        f"module = {WRAPPER if wrapped else service.module}",
        f"req-logger = file:{workdir}/{service.name}/access.log",
        "logformat = ACCESS %(method) %(uri) %(status)",
        f"logger = file:{workdir}/{service.name}/uwsgi.log",
    ]
    if wrapped:
        lines.append(f"env = OSLO_METRICS_WRAP_APP={service.module}")
        lines.append(f"env = OSLO_METRICS_SERVICE_NAME={service.label}")
    if service.config_dir_env:
        lines.append(f"env = {service.config_dir_env}={workdir}/{service.name}")
    if service.name == "placement" and wrapped:
        # placement parses its configuration into an object of its own.
        lines.append("env = OSLO_METRICS_CONFIG_PROJECT=placement")
        lines.append(
            f"env = OSLO_METRICS_CONFIG_FILE={config_file(workdir, 'placement')}"
        )
    if service.name in ("cinder", "ironic"):
        # In place of /etc/<service>/<service>.conf, which the service
        # would find by itself.
        lines.append(
            f"pyargv = --config-file {config_file(workdir, service.name)}"
        )
    path = workdir / service.name / "uwsgi.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


# -- processes ------------------------------------------------------------


def run(argv: Sequence[str], env: Mapping[str, str] | None = None,
        stdin: str = "", timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=timeout, check=False,
    )
    return result


def checked(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.args, result.stdout[-3000:],
                                    result.stderr[-3000:])
    return result.stdout


def in_parallel(*calls: Callable[[], object]) -> None:
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()


class Server:
    """One uWSGI master and its workers, in a session of their own."""

    def __init__(self, workdir: Path, service: Service, filtered: bool) -> None:
        self.service = service
        self.ini = uwsgi_ini(workdir, service, filtered)
        self.access_log = workdir / service.name / "access.log"
        self.log = workdir / service.name / "uwsgi.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(UWSGI), "--ini", str(self.ini)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
            env={k: v for k, v in os.environ.items()
                 if not k.startswith(("OS_", "OSLO_METRICS_"))},
        )

    def wait_ready(self) -> None:
        """Until uWSGI listens; the app itself loads on the first request."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(self.log.read_text()[-3000:])
            try:
                with http_connection(self.service.port) as connection:
                    connection.connect()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"{self.service.name} not listening")

    def stop(self) -> None:
        """SIGINT, as uWSGI's own stop: workers exit and deliver."""
        process, self.process = self.process, None
        if process is None:
            return
        _signal(process.pid, signal.SIGINT)
        try:
            process.wait(WAIT)
        except subprocess.TimeoutExpired:
            _signal(process.pid, signal.SIGKILL)
            process.wait(WAIT)
        # Lazy workers outliving their master would keep samples back.
        _signal(process.pid, signal.SIGKILL)

    def access(self) -> list[tuple[str, str, int]]:
        """(method, uri, status) of each request the server logged."""
        found: list[tuple[str, str, int]] = []
        if not self.access_log.exists():  # uWSGI makes it on the first line
            return found
        for line in self.access_log.read_text().splitlines():
            match = ACCESS.match(line)
            if match:
                found.append((match[1], match[2], int(match[3])))
        return found


def _signal(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


class http_connection(http.client.HTTPConnection):  # noqa: N801
    """A loopback connection usable as a context manager."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        super().__init__("127.0.0.1", port, timeout=timeout)

    def __enter__(self) -> http_connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Servers:
    """Every server of a run, started and stopped together."""

    def __init__(self, workdir: Path, tier: Mapping[str, Service],
                 filtered: bool, only: Sequence[str] = ()) -> None:
        names = only or tuple(tier)
        self.servers = {
            name: Server(workdir, tier[name], filtered) for name in names
        }

    def __enter__(self) -> Servers:
        for server in self.servers.values():
            server.start()
        try:
            in_parallel(*(s.wait_ready for s in self.servers.values()))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        in_parallel(*(s.stop for s in self.servers.values()))

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def access(self) -> dict[str, list[tuple[str, str, int]]]:
        return {name: s.access() for name, s in self.servers.items()}


# -- the client -----------------------------------------------------------


def client_env(keystone: Service) -> dict[str, str]:
    return {
        "OS_AUTH_URL": f"{keystone.url}/v3",
        "OS_USERNAME": "admin",
        "OS_PASSWORD": PASSWORD,
        "OS_PROJECT_NAME": "admin",
        "OS_USER_DOMAIN_ID": "default",
        "OS_PROJECT_DOMAIN_ID": "default",
        "OS_IDENTITY_API_VERSION": "3",
        "OS_REGION_NAME": REGION,
        "OS_INTERFACE": "public",
    }


def openstack(keystone: Service, commands: Sequence[str],
              timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """python-openstackclient's interactive shell, one command a line:
    one process and one token for the whole list."""
    return shell(client_env(keystone), commands, timeout)


def shell(env: Mapping[str, str], commands: Sequence[str],
          timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """python-openstackclient's interactive shell with ``env``, one
    command a line.  (Given options on its command line, the shell would
    run them as commands: they go in the environment.)"""
    return run([str(VENV / "bin" / "openstack")], env,
               stdin="".join(f"{c}\n" for c in commands), timeout=timeout)


# -- building the databases once -------------------------------------------


def manage(workdir: Path, service: str) -> list[str]:
    conf = str(config_file(workdir, service))
    bin_dir = VENV / "bin"
    return {
        "keystone": [str(bin_dir / "keystone-manage"), "--config-file", conf,
                     "db_sync"],
        "glance": [str(bin_dir / "glance-manage"), "--config-file", conf,
                   "db_sync"],
        "placement": [str(bin_dir / "placement-manage"), "--config-file", conf,
                      "db", "sync"],
        "cinder": [str(bin_dir / "cinder-manage"), "--config-file", conf,
                   "db", "sync"],
    }[service]


def build(workdir: Path, tier: Mapping[str, Service], catalog: bool = True) -> None:
    """Databases, keys, the admin user and (with ``catalog``, keystone
    under uWSGI for a moment) the catalog, in ``workdir``."""
    write_configs(workdir, tier, socket=None)
    in_parallel(*(
        (lambda name=name: checked(run(manage(workdir, name))))
        for name in tier
    ))
    keystone = tier["keystone"]
    conf = str(config_file(workdir, "keystone"))
    owner = ["--keystone-user", str(os.getuid()),
             "--keystone-group", str(os.getgid())]
    manage_bin = str(VENV / "bin" / "keystone-manage")
    for step in ("fernet_setup", "credential_setup"):
        checked(run([manage_bin, "--config-file", conf, step, *owner]))
    checked(run([
        manage_bin, "--config-file", conf, "bootstrap",
        "--bootstrap-password", PASSWORD,
        "--bootstrap-public-url", f"{keystone.url}/v3",
        "--bootstrap-region-id", REGION,
    ]))
    if catalog:
        commands = catalog_commands(tier)
        with Servers(workdir, tier, filtered=False, only=("keystone",)):
            result = openstack(keystone, commands)
        assert result.stdout.count("| service_type ") == len(commands) // 2, (
            result.stdout, result.stderr)
    if "placement" in tier:
        # placement fills its tables of standard traits and resource
        # classes when its application is built: once here, rather than by
        # two workers racing for SQLite's lock.
        checked(run(
            [str(VENV / "bin" / "python"), "-c", "import placement.wsgi.api"],
            {"OS_PLACEMENT_CONFIG_DIR": str(workdir / "placement")},
        ))


def catalog_commands(tier: Mapping[str, Service]) -> list[str]:
    """Client commands that put every service but keystone in the catalog."""
    commands = []
    for service in tier.values():
        if service.name == "keystone":
            continue
        kind = service.label
        url = service.url + ("/v3" if service.name == "cinder" else "")
        commands.append(f"service create --name {service.name} {kind}")
        commands.append(f"endpoint create --region {REGION} {kind} public {url}")
    return commands


def copy_base(base: Path, workdir: Path, tier: Mapping[str, Service],
              socket: Path | None) -> None:
    """A fresh copy of the built state in ``workdir``, configured for it.

    With ``socket``, the filter goes into glance's and cinder's shipped
    paste files with the pipeline command, as an operator would put it.
    """
    for name in STATE:
        shutil.copyfile(base / name, workdir / name)
    shutil.copytree(base / "keys", workdir / "keys")
    write_configs(workdir, tier, socket)
    if socket is None:
        return
    for name, paste in (("glance", "glance-api-paste.ini"),
                        ("cinder", "api-paste.ini")):
        checked(run([
            str(PASTE_COMMAND), "paste", "add", str(workdir / name / paste),
            "--service-name", tier[name].label,
        ]))


def logged(access: Mapping[str, Sequence[tuple[str, str, int]]],
           tier: Mapping[str, Service]) -> Counter[tuple[str, str, int]]:
    """(service label, method, status) counts of the servers' logs."""
    return Counter(
        (tier[name].label, method, status)
        for name, lines in access.items()
        for method, _, status in lines
    )


# -- what the client does ---------------------------------------------------

IMAGE = "6b1c3a4e-7d2f-4e58-9a61-0c5d8e9f7a10"
PROVIDER = "2f7e4b1d-9c3a-4f6e-8d21-5a0b7c9e3f42"
MISSING = "0e0e0e0e-0000-4000-8000-0000000000ff"


def first_session(image_file: Path, saved_file: Path) -> list[str]:
    """Identity, images, resource providers and volumes: create and read."""
    return [
        "token issue -f value -c project_id -c user_id",
        "catalog list",
        "project create tier-project --description first -f json",
        "project set tier-project --description second",
        "project show tier-project -f json",
        "user create tier-user --project tier-project --password pw -f json",
        "user set tier-user --email tier@example.org",
        "user show tier-user -f json",
        "role add --project tier-project --user tier-user member",
        "role assignment list --user tier-user --names -f json",
        "user list -f value -c Name --sort-column Name",
        "project list -f value -c Name --sort-column Name",
        "user show no-such-user",
        "project show no-such-project",
        f"image create tier-image --id {IMAGE} --file {image_file} "
        "--disk-format raw --container-format bare -f json",
        "image set tier-image --property tier=yes",
        f"image show {IMAGE} -f json",
        "image list -f value -c Name",
        f"image save {IMAGE} --file {saved_file}",
        f"image show {MISSING}",
        f"resource provider create tier-rp --uuid {PROVIDER} -f json",
        f"resource provider inventory set {PROVIDER} --resource VCPU=8 "
        "--resource MEMORY_MB=4096",
        f"resource provider inventory list {PROVIDER} -f json",
        f"resource provider trait set {PROVIDER} --trait HW_CPU_X86_AVX2",
        f"resource provider trait list {PROVIDER} -f value",
        f"resource provider usage show {PROVIDER} -f json",
        "resource provider list -f value -c name",
        f"resource provider show {MISSING}",
        "resource class show VCPU -f json",
        "volume type create tier-type --property k=v -f json",
        "volume type show tier-type -f json",
        "volume type list -f value -c Name",
        "volume qos create tier-qos --property read_iops_sec=100 -f json",
        "volume qos list -f value -c Name",
        "volume list -f value",
        f"volume show {MISSING}",
        f"volume type show {MISSING}",
    ]


def second_session() -> list[str]:
    """Everything the first session made, deleted."""
    return [
        f"image delete {IMAGE}",
        f"image show {IMAGE}",
        f"resource provider delete {PROVIDER}",
        f"resource provider show {PROVIDER}",
        "volume qos delete tier-qos",
        "volume type delete tier-type",
        "volume type show tier-type",
        "user delete tier-user",
        "project delete tier-project",
        "project show tier-project",
    ]


_UUID = re.compile(
    r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b"
)
_TIME = re.compile(
    r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?"
)
_REQUEST_ID = re.compile(r"req-[0-9a-f-]{36}")


def normalised(output: str, fixed: Sequence[str] = (IMAGE, PROVIDER, MISSING)) -> str:
    """The client's output with what legitimately differs between runs
    (generated ids, times, request ids) replaced, ids by order of first
    appearance so that which id is which still has to agree."""
    names: dict[str, str] = {}

    def rename(match: re.Match[str]) -> str:
        found = match[0]
        if found in fixed:
            return found
        return names.setdefault(found, f"<id{len(names) + 1}>".ljust(len(found)))

    output = _REQUEST_ID.sub("<request-id>", output)
    output = _UUID.sub(rename, output)
    return _TIME.sub(lambda m: "<time>".ljust(len(m[0])), output)


def hang_up(glance: Service, token: str) -> int:
    """Start downloading the image and hang up after the status line."""
    connection = http_connection(glance.port)
    try:
        connection.request("GET", f"/v2/images/{IMAGE}/file",
                           headers={"X-Auth-Token": token})
        response = connection.getresponse()
        response.read(1)
        return response.status
    finally:
        # Closing the socket mid-body: the server's write fails.
        connection.close()


# A project no token of the tier is scoped to.
CLAIMED_PROJECT = "c1a1med0c1a1med0c1a1med0c1a1med0"


def claim_a_project(services: Mapping[str, Service]) -> list[int]:
    """Requests without a token that carry the headers auth_token sets for
    a validated one, naming CLAIMED_PROJECT; their statuses.

    keystone answers version discovery and a password login without a
    token and leaves such headers in place; auth_token removes them and
    refuses the request.
    """
    claim = {
        "X-Project-Id": CLAIMED_PROJECT,
        "X-Identity-Status": "Confirmed",
        "Content-Type": "application/json",
    }
    login = json.dumps({"auth": {"identity": {
        "methods": ["password"],
        "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": PASSWORD,
        }},
    }}})
    statuses = []
    for name, method, path, body in (
        ("keystone", "GET", "/v3", None),
        ("keystone", "POST", "/v3/auth/tokens", login),
        ("placement", "GET", "/resource_providers", None),
    ):
        service = services[name]
        with http_connection(service.port) as connection:
            connection.request(
                method, service.prefix + path, body=body, headers=claim
            )
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
    return statuses


# -- ironic, on its own -----------------------------------------------------

# Where ironic's calls to a conductor go: a port nothing listens on, so
# that those calls fail at once, the same way in every run.
UNREACHABLE_PORT = 1


def ironic_service() -> Service:
    """ironic, in front of no keystone (``auth_strategy = noauth``)."""
    return Service("ironic", "baremetal", free_port(), "ironic.wsgi:application")


def noauth_env(service: Service) -> dict[str, str]:
    """The client's ``--os-auth-type none --os-endpoint URL``."""
    return {"OS_AUTH_TYPE": "none", "OS_ENDPOINT": service.url}


def write_ironic_config(workdir: Path, socket: Path | None) -> None:
    """ironic's configuration under ``workdir/ironic/``, its database
    there too; with ``socket``, the filter's section."""
    directory = workdir / "ironic"
    directory.mkdir(exist_ok=True)
    sections = {"json_rpc": {"port": str(UNREACHABLE_PORT)}, **_metrics(socket)}
    extra = "".join(
        f"[{name}]\n" + "".join(f"{key} = {value}\n" for key, value in options.items())
        for name, options in sections.items()
    )
    config_file(workdir, "ironic").write_text(drive.ironic_config(directory) + extra)


def build_ironic(workdir: Path, names: Sequence[str]) -> list[str]:
    """ironic's database in ``workdir``, with a conductor and a node of
    each name (creating nodes through the API takes a conductor); the
    nodes' uuids."""
    write_ironic_config(workdir, socket=None)
    conf = str(config_file(workdir, "ironic"))
    checked(run([str(VENV / "bin" / "ironic-dbsync"), "--config-file", conf,
                 "create_schema"]))
    seeded = checked(run(
        [str(VENV / "bin" / "python"), "-c",
         "import json, pathlib, sys; from tests.openstack import drive; "
         "print(json.dumps(drive.seed_ironic(pathlib.Path(sys.argv[1]), "
         "sys.argv[2:])))",
         conf, *names],
        {"PYTHONPATH": str(REPO)},
    ))
    uuids: list[str] = json.loads(seeded.splitlines()[-1])
    return uuids


def copy_ironic(base: Path, workdir: Path, socket: Path | None) -> None:
    """A fresh copy of ironic's built database in ``workdir``."""
    write_ironic_config(workdir, socket)
    shutil.copyfile(base / "ironic" / "ironic.db", workdir / "ironic" / "ironic.db")


# -- what the client does with ironic --------------------------------------

NODES = ("bm-node-a", "bm-node-b")
CHASSIS = "5c3e9a1f-2b7d-4e6a-9f08-1d4c7b2e6a93"
NEW_NODE = "8d2f6b4a-1e3c-4a7f-b5d9-0c6e2a8f4b17"
MISSING_NODE = "bm-no-such-node"
TEMPLATE = "CUSTOM_BM_TEMPLATE"
STEPS = [{"interface": "bios", "step": "apply_configuration",
          "args": {"settings": []}, "priority": 10}]


def baremetal_session(uuids: Mapping[str, str], steps: Path) -> list[str]:
    """``baremetal`` commands on the nodes ``build_ironic`` made (``uuids``
    by name); ``steps`` is a file for the deploy template's steps.

    Reads work without a conductor, and so do chassis and deploy
    templates, which the API writes to the database itself; creating,
    changing, deleting or powering on a node are calls to a conductor, so
    they answer 500 here.
    """
    first, second = NODES
    steps.write_text(json.dumps(STEPS))
    return [
        "baremetal driver list",
        "baremetal driver show fake-hardware -f json",
        "baremetal node list",
        "baremetal node list --long -f json",
        "baremetal node list --fields uuid name -f value",
        f"baremetal node show {uuids[first]} -f json",
        f"baremetal node show {second} -f json",
        f"baremetal node trait list {first}",
        f"baremetal node bios setting list {first}",
        f"baremetal node bios setting show {first} ProcVirtualization",
        f"baremetal node history list {second}",
        f"baremetal port list --node {uuids[first]}",
        f"baremetal port show {MISSING}",
        f"baremetal node show {MISSING_NODE}",
        f"baremetal node show {MISSING}",
        f"baremetal node create --driver fake-hardware --name bm-new --uuid {NEW_NODE}",
        f"baremetal node set {first} --description changed",
        f"baremetal node power on {first}",
        f"baremetal node delete {second}",
        f"baremetal deploy template create {TEMPLATE} --steps {steps} -f json",
        f"baremetal deploy template show {TEMPLATE} -f json",
        "baremetal deploy template list",
        f"baremetal deploy template delete {TEMPLATE}",
        f"baremetal deploy template show {TEMPLATE}",
        f"baremetal chassis create --uuid {CHASSIS} --description first -f json",
        f"baremetal chassis set {CHASSIS} --description second",
        f"baremetal chassis show {CHASSIS} -f json",
        "baremetal chassis list",
        f"baremetal chassis delete {CHASSIS}",
        f"baremetal chassis show {CHASSIS}",
    ]


# (method, route template, status) of each request of the session, by
# the names ironic's controllers give the path segments.
BAREMETAL_REQUESTS = Counter({
    ("GET", "/v1/drivers", 200): 1,
    ("GET", "/v1/drivers/{driver_name}", 200): 1,
    ("GET", "/v1/nodes", 200): 2,
    ("GET", "/v1/nodes/detail", 200): 1,
    ("GET", "/v1/nodes/{node_ident}", 200): 2,
    ("GET", "/v1/nodes/{node_ident}", 404): 2,
    ("GET", "/v1/nodes/{node_ident}/traits", 200): 1,
    ("GET", "/v1/nodes/{node_ident}/bios", 200): 1,
    ("GET", "/v1/nodes/{node_ident}/bios/{setting_name}", 404): 1,
    ("GET", "/v1/nodes/{node_ident}/history", 200): 1,
    ("GET", "/v1/ports", 200): 1,
    ("GET", "/v1/ports/{port_ident}", 404): 1,
    ("POST", "/v1/nodes", 500): 1,
    ("PATCH", "/v1/nodes/{node_ident}", 500): 1,
    ("PUT", "/v1/nodes/{node_ident}/states/power", 500): 1,
    ("DELETE", "/v1/nodes/{node_ident}", 500): 1,
    ("POST", "/v1/deploy_templates", 201): 1,
    ("GET", "/v1/deploy_templates/{template_ident}", 200): 1,
    ("GET", "/v1/deploy_templates/{template_ident}", 404): 1,
    ("GET", "/v1/deploy_templates", 200): 1,
    ("DELETE", "/v1/deploy_templates/{template_ident}", 204): 1,
    ("POST", "/v1/chassis", 201): 1,
    ("PATCH", "/v1/chassis/{chassis_uuid}", 200): 1,
    ("GET", "/v1/chassis/{chassis_uuid}", 200): 1,
    ("GET", "/v1/chassis/{chassis_uuid}", 404): 1,
    ("GET", "/v1/chassis", 200): 1,
    ("DELETE", "/v1/chassis/{chassis_uuid}", 204): 1,
})


def baremetal_names(uuids: Mapping[str, str]) -> set[str]:
    """The ids and names the session uses, which no label may carry."""
    return {*NODES, *uuids.values(), CHASSIS, NEW_NODE, MISSING_NODE, MISSING,
            TEMPLATE, "fake-hardware", "bm-new", "ProcVirtualization"}
