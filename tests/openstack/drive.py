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

"""Build a real OpenStack API app from its release and send it requests.

Run with the interpreter of the OpenStack venv (``.venv-openstack``), the
repository on PYTHONPATH:

    python -m tests.openstack.drive SERVICE --socket PATH --workdir DIR

The metrics filter goes first in every pipeline of the service's own paste
file, put there by ``oslo-metrics-middleware paste add``, and sends its
samples to the collector listening on PATH.  Written to DIR/sent.json:
every request sent (method, path, status, the label expected from the
router's own table or ``__unmatched__``) and the ids and names used, which
must appear in no label.  No server, database server or message bus: SQLite,
the fake RPC transport, and the headers keystone's authtoken would set.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Iterable
import contextlib
import gc
import io
import json
import os
from pathlib import Path
import random
import re
import subprocess
import sys
from typing import Any
import uuid
import warnings

from tests import wsgi

UNMATCHED = "__unmatched__"
PROJECT = uuid.uuid4().hex
HEADERS = {
    "HTTP_X_USER_ID": uuid.uuid4().hex,
    "HTTP_X_PROJECT_ID": PROJECT,
    "HTTP_X_TENANT_ID": PROJECT,
    "HTTP_X_ROLES": "admin,member,reader",
    "HTTP_X_IDENTITY_STATUS": "Confirmed",
    "HTTP_X_AUTH_TOKEN": "admin",
}


class Driver:
    """Sends requests through the filtered app and remembers what to expect."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.sent: list[list[Any]] = []
        self.secrets: set[str] = set()

    def __call__(
        self,
        method: str,
        path: str,
        expected: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        script_name: str = "",
    ) -> tuple[int, Any]:
        data = b"" if body is None else json.dumps(body).encode()
        route, _, query = path.partition("?")
        extra = {
            "SCRIPT_NAME": script_name,
            "QUERY_STRING": query,
            "HTTP_HOST": "127.0.0.1",
            "HTTP_ACCEPT": "application/json",
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            **HEADERS,
        }
        if body is not None:
            extra["CONTENT_TYPE"] = "application/json"
        for name, value in (headers or {}).items():
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        try:
            status_line, payload = wsgi.call(
                self.app, wsgi.environ(method, route, data, **extra)
            )
        except Exception:  # a server answers 500; the filter counts 500
            status_line, payload = "500 Internal Server Error", b""
        status = int(status_line.split()[0])
        self.sent.append([method, script_name + path, status, expected])
        try:
            return status, json.loads(payload)
        except ValueError:
            return status, None


def filter_options(service: str, socket: str) -> dict[str, str]:
    return {
        "service_name": service,
        "metrics_socket_file": socket,
        "flush_interval": "0.05",
    }


def filtered_paste_file(source: Path, target: Path, service: str, socket: str) -> Path:
    """The service's api-paste.ini after ``oslo-metrics-middleware paste add``.

    keystone's authtoken is taken out of the pipelines first; the context
    middleware after it reads the headers it would have set.  The socket
    options go at the end of the file, which is the filter's section.
    """
    from oslo_metrics_middleware import cmd

    target.write_text(re.sub(r"\bauthtoken[ \t]+", "", source.read_text()))
    with contextlib.redirect_stdout(io.StringIO()) as said:
        status = cmd.main(["paste", "add", str(target), "--service-name", service])
    assert status == 0, said.getvalue()
    options = filter_options(service, socket)
    del options["service_name"]
    with target.open("a") as out:
        out.writelines(f"{key} = {value}\n" for key, value in options.items())
    return target


def send_every_pipeline(
    driver: Driver,
    paste: Path,
    service: str,
    requests: dict[str, tuple[str, str, str]],
) -> None:
    """Load every app, pipeline and composite of ``paste``; build each
    pipeline string as paste's pipeline factories do and send it the
    request ``requests`` gives for its app: (SCRIPT_NAME, path, label)."""
    from paste import deploy

    from oslo_metrics_middleware import MetricsMiddleware
    from oslo_metrics_middleware import paste_file

    uri = f"config:{paste}"
    parsed = paste_file.read(paste)
    for section in parsed.sections:
        if section.kind in ("app", "pipeline", "composite"):
            assert deploy.loadapp(uri, name=section.short_name) is not None
    original = driver.app
    for pipeline in parsed.pipelines():
        *filters, app_name = pipeline.names
        app = deploy.loadapp(uri, name=app_name)
        for name in reversed(filters):
            app = deploy.loadfilter(uri, name=name)(app)
        assert isinstance(app, MetricsMiddleware), pipeline.label
        assert app.service == service, (pipeline.label, app.service)
        script_name, path, label = requests[app_name]
        driver.app = app
        driver("GET", path, label, script_name=script_name)
    driver.app = original


def flush_filters() -> None:
    """Send what every filter built in this process still holds."""
    from oslo_metrics_middleware import MetricsMiddleware

    for obj in gc.get_objects():
        if isinstance(obj, MetricsMiddleware):
            obj.sender.flush()


def service_conf(
    workdir: Path, project: str, default: str = "", sections: str = ""
) -> Path:
    """A configuration file for ``project``: SQLite, the fake RPC transport,
    and ``default`` and ``sections`` added to it."""
    conf = workdir / f"{project}.conf"
    conf.write_text(
        f"[DEFAULT]\ntransport_url = fake:/\nrpc_response_timeout = 1\n{default}"
        f"[database]\nconnection = sqlite:///{workdir / project}.db\n"
        f"[oslo_concurrency]\nlock_path = {workdir}\n{sections}"
    )
    return conf


def paste_app(
    project: str, app_name: str, service: str, socket: str, workdir: Path
) -> Driver:
    """A driver for ``app_name`` of the project's own api-paste.ini, with
    the filter first in every pipeline."""
    from paste import deploy

    paste = filtered_paste_file(
        Path(sys.prefix) / f"etc/{project}/api-paste.ini",
        workdir / "api-paste.ini",
        service,
        socket,
    )
    return Driver(deploy.loadapp(f"config:{paste}", name=app_name))


# -- Routes: the expected label from the router's own table -----------------

# Routes' variables: {name}, {name:regex}, :(name) and the older bare :name.
_VARIABLE = re.compile(
    r"\{(\w+)(?::[^{}]*(?:\{[^{}]*\}[^{}]*)*)?\}|:\((\w+)\)|:(\w+)"
)
_PROJECT_SEGMENT = re.compile(r"^/\{(?:project_id|tenant_id)\}")


def _name(variable: re.Match[str]) -> str:
    return next(group for group in variable.groups() if group)


def routes_label(mapper: Any, prefix: str, path: str, method: str) -> str:
    """What Routes itself matches for ``path``, as a ``{name}`` template."""
    match = mapper.routematch(path, environ={"REQUEST_METHOD": method})
    if not match:
        return UNMATCHED
    routepath = match[1].routepath
    template = _VARIABLE.sub(lambda m: "{" + _name(m) + "}", routepath)
    template = re.sub(r"\.\{format\}$", "", template)
    template = _PROJECT_SEGMENT.sub("", template).rstrip("/")
    return prefix + template if template else prefix or "/"


# -- ironic -------------------------------------------------------------------


def ironic_config(workdir: Path) -> str:
    """ironic without keystone or a conductor: no authentication, the
    fake hardware type, SQLite in ``workdir``."""
    fake = (
        "bios",
        "boot",
        "console",
        "deploy",
        "firmware",
        "inspect",
        "management",
        "power",
        "raid",
        "rescue",
        "vendor",
    )
    return (
        "[DEFAULT]\nauth_strategy = noauth\nrpc_transport = json-rpc\n"
        "transport_url = fake:/\nenabled_hardware_types = fake-hardware\n"
        + "".join(f"enabled_{kind}_interfaces = fake\n" for kind in fake)
        + "enabled_network_interfaces = noop\nenabled_storage_interfaces = noop\n"
        f"[database]\nconnection = sqlite:///{workdir / 'ironic.db'}\n"
        f"[oslo_concurrency]\nlock_path = {workdir}\n"
    )


def ironic(socket: str, workdir: Path) -> Driver:
    conf = workdir / "ironic.conf"
    conf.write_text(ironic_config(workdir))
    dbsync = Path(sys.executable).with_name("ironic-dbsync")
    subprocess.run(
        [str(dbsync), "--config-file", str(conf), "create_schema"],
        check=True,
        capture_output=True,
    )
    from ironic.api import app as ironic_app
    from ironic.common import service

    from oslo_metrics_middleware import MetricsMiddleware

    service.prepare_command(["ironic-api", "--config-file", str(conf)])
    _register_ironic_conductor()
    app = MetricsMiddleware(
        ironic_app.VersionSelectorApplication(), filter_options("baremetal", socket)
    )
    driver = Driver(app)
    latest = {"X-OpenStack-Ironic-API-Version": "latest"}

    def send(
        method: str,
        template: str,
        expected: str | None = None,
        body: Any = None,
        **values: str,
    ) -> Any:
        path = template.format(**values)
        label = template if expected is None else expected
        return driver(method, path, label, headers=latest, body=body)

    names = {
        "node": "node-" + uuid.uuid4().hex[:6],
        "pg": "pg-" + uuid.uuid4().hex[:6],
        "alloc": "alloc-" + uuid.uuid4().hex[:6],
    }
    driver.secrets.update(names.values())
    send("GET", "/")
    send("GET", "/v1")
    send("GET", "/v1/nodes")
    send("GET", "/v1/nodes/detail")
    send("POST", "/v1/nodes")
    node_uuid = _create_ironic_node(names["node"])
    driver.secrets.add(node_uuid)
    for ident in (node_uuid, names["node"]):
        send("GET", "/v1/nodes/{node_ident}", node_ident=ident)
        send("GET", "/v1/nodes/{node_ident}/states", node_ident=ident)
        send(
            "PUT",
            "/v1/nodes/{node_ident}/states/power",
            node_ident=ident,
            body={"target": "power on"},
        )
        send("GET", "/v1/nodes/{node_ident}/validate", node_ident=ident)
        send("GET", "/v1/nodes/{node_ident}/traits", node_ident=ident)
        send(
            "PUT",
            "/v1/nodes/{node_ident}/traits/{trait}",
            node_ident=ident,
            trait="CUSTOM_GOLD",
        )
        send(
            "GET",
            "/v1/nodes/{node_ident}/bios/{setting_name}",
            node_ident=ident,
            setting_name="ProcVirtualization",
        )
        send("GET", "/v1/nodes/{node_ident}/ports", node_ident=ident)
        send("GET", "/v1/nodes/{node_ident}/vifs", node_ident=ident)
        send("GET", "/v1/nodes/{node_ident}/management/boot_device", node_ident=ident)
        send("PUT", "/v1/nodes/{node_ident}/maintenance", node_ident=ident)
        send("GET", "/v1/nodes/{node_ident}/nosuch", UNMATCHED, node_ident=ident)
    missing = "node-" + uuid.uuid4().hex[:6]
    driver.secrets.add(missing)
    send("GET", "/v1/nodes/{node_ident}", node_ident=missing)
    send("GET", "/v1/drivers")
    send("GET", "/v1/drivers/{driver_name}", driver_name="fake-hardware")
    send(
        "GET",
        "/v1/drivers/{driver_name}/vendor_passthru/methods",
        driver_name="fake-hardware",
    )
    send("GET", "/v1/ports")
    send("GET", "/v1/portgroups/{portgroup_ident}", portgroup_ident=names["pg"])
    send("GET", "/v1/allocations/{allocation_ident}", allocation_ident=names["alloc"])
    send("GET", "/v1/deploy_templates/{template_ident}", template_ident="CUSTOM_X")
    send("GET", "/v1/runbooks/{runbook_ident}", runbook_ident="CUSTOM_Y")
    send("POST", "/v1/heartbeat/{node_ident}", node_ident=names["node"])
    send("GET", "/v1/conductors")
    send("GET", "/v1/chassis")
    chassis = str(uuid.uuid4())
    driver.secrets.add(chassis)
    send("GET", "/v1/chassis/{chassis_uuid}", chassis_uuid=chassis)
    for path in (
        "/states/provision",
        "/states/raid",
        "/states/console",
        "/management/indicators",
        "/vendor_passthru/methods",
        "/history",
        "/inventory",
        "/children",
        "/volume/connectors",
        "/volume/targets",
        "/portgroups",
    ):
        method = "PUT" if path.startswith("/states/") else "GET"
        send(method, "/v1/nodes/{node_ident}" + path, node_ident=names["node"])
    for path in (
        "/v1/volume",
        "/v1/volume/connectors",
        "/v1/volume/targets",
        "/v1/events",
        "/v1/shards",
        "/v1/allocations",
        "/v1/portgroups",
        "/v1/deploy_templates",
        "/v1/runbooks",
        "/v1/inspection_rules",
        "/v1/lookup",
    ):
        send("GET", path)
    send("GET", "/v1/nosuch/{ident}", UNMATCHED, ident=names["node"])
    # Names the labels must not carry either.
    driver.secrets.update(
        {"CUSTOM_GOLD", "ProcVirtualization", "CUSTOM_X", "CUSTOM_Y", "fake-hardware"}
    )
    return driver


def seed_ironic(conf: Path, names: Iterable[str]) -> list[str]:
    """A conductor and a node of each name in the database ``conf`` names,
    as the conductor would register them; the nodes' uuids."""
    from ironic.common import service

    service.prepare_command(["ironic-dbsync", "--config-file", str(conf)])
    _register_ironic_conductor()
    return [_create_ironic_node(name) for name in names]


def _register_ironic_conductor() -> None:
    """A conductor row, so that the API accepts nodes of the fake type."""
    from ironic.common import driver_factory
    from ironic.db import api as dbapi

    db = dbapi.get_instance()
    conductor = db.register_conductor(
        # An address, not a name: RPC calls to it fail at once, no lookup.
        {"hostname": "127.0.0.1", "drivers": [], "conductor_group": ""}
    )
    interfaces = []
    for name, hardware in driver_factory.hardware_types().items():
        supported = driver_factory.enabled_supported_interfaces(hardware)
        for kind, kind_names in supported.items():
            default = driver_factory.default_interface(hardware, kind, driver_name=name)
            interfaces.extend(
                {
                    "hardware_type": name,
                    "interface_type": kind,
                    "interface_name": each,
                    "default": each == default,
                }
                for each in kind_names
            )
    db.register_conductor_hardware_interfaces(conductor.id, interfaces)


def _create_ironic_node(name: str) -> str:
    """A node straight in the database: creating one through the API
    needs a running conductor."""
    from ironic.db import api as dbapi
    from ironic.objects import node

    node_uuid = str(uuid.uuid4())
    dbapi.get_instance().create_node(
        {
            "uuid": node_uuid,
            "name": name,
            "driver": "fake-hardware",
            "conductor_group": "",
            "resource_class": "baremetal",
            "version": node.Node.VERSION,
        }
    )
    return node_uuid


# -- nova ---------------------------------------------------------------------


def nova(socket: str, workdir: Path) -> Driver:
    from nova import config
    from nova import objects
    from nova.api.openstack.compute import routes

    conf = service_conf(
        workdir,
        "nova",
        sections=f"[api_database]\nconnection = sqlite:///{workdir / 'api.db'}\n",
    )
    config.parse_args(["nova-api", "--config-file", str(conf)])
    objects.register_all()
    driver = paste_app("nova", "osapi_compute", "compute", socket, workdir)
    mapper = routes.APIRouterV21().map
    driver("GET", "/v2.1", "/v2.1")
    send_routes_api(driver, mapper, "/v2.1", "/servers")
    servers = routes_label(mapper, "/v2.1", "/servers", "GET")
    send_every_pipeline(driver, workdir / "api-paste.ini", "compute", {
        "osapi_compute_app_v21": ("/v2.1", "/servers", servers),
        "oscomputeversionapp": ("", "/", "/"),
        "oscomputeversionapp_v2": ("/v2.1", "", "/v2.1"),
        "metaapp": ("", "/", "/"),
    })
    return driver


def send_routes_api(driver: Driver, mapper: Any, prefix: str, resource: str) -> None:
    """The root, every route of ``mapper`` under ``prefix``, and two paths
    it does not have (one under ``resource``)."""
    driver("GET", "/", "/")
    send_every_route(driver, mapper, prefix, lambda number: prefix)
    for junk in ("/no-such", f"{resource}/{uuid.uuid4()}/no/such/thing"):
        driver("GET", prefix + junk, routes_label(mapper, prefix, junk, "GET"))


def send_every_route(
    driver: Driver, mapper: Any, prefix: str, mount: Callable[[int], str]
) -> None:
    """One request per route of a Routes mapper, ids of every shape.

    ``prefix`` is the label form of where the mapper is mounted; ``mount``
    gives the path prefix sent with the n-th route.
    """
    sent: set[tuple[str, str]] = set()
    for number, route in enumerate(mapper.matchlist):
        methods = (route.conditions or {}).get("method") or ["GET"]
        if isinstance(methods, str):  # heat's "GET,POST", which Routes allows
            methods = methods.split(",")
        key = (methods[0], route.routepath)
        if key in sent or not route.routepath.startswith("/"):
            continue
        sent.add(key)
        path, values = fill_template(route.routepath, number)
        driver.secrets.update(values.values())
        method = methods[0]
        body = {} if method in ("POST", "PUT", "PATCH") else None
        expected = routes_label(mapper, prefix, path, method)
        driver(method, mount(number) + path, expected, body=body)


def fill_template(template: str, number: int) -> tuple[str, dict[str, str]]:
    """A path for ``template``, and the ids put in it."""
    values: dict[str, str] = {}

    def fill(match: re.Match[str]) -> str:
        name = _name(match)
        if name == "project_id":
            return PROJECT
        values[name] = random_id(number + len(values))
        return values[name]

    return _VARIABLE.sub(fill, template.replace(".:(format)", "")), values


_TOKEN_LETTERS = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def random_id(number: int) -> str:
    """Ids of the shapes clients send: uuids, hex, random tokens."""
    if number % 3 == 0:
        return str(uuid.uuid4())
    if number % 3 == 1:
        return uuid.uuid4().hex
    return "".join(random.choice(_TOKEN_LETTERS) for _ in range(20))


# -- neutron ------------------------------------------------------------------


def neutron(socket: str, workdir: Path) -> Driver:
    paste = filtered_paste_file(
        Path(sys.prefix) / "etc/neutron/api-paste.ini",
        workdir / "api-paste.ini",
        "network",
        socket,
    )
    conf = workdir / "neutron.conf"
    conf.write_text(
        "[DEFAULT]\ncore_plugin = ml2\n"
        "service_plugins = router,qos,segments,trunk,tag,port_forwarding,"
        "network_segment_range,local_ip,ndp_proxy,metering,network_ip_availability,"
        "conntrack_helper,timestamp,revisions,flavors\n"
        "transport_url = fake:/\nrpc_response_timeout = 1\n"
        f"api_paste_config = {paste}\nauth_strategy = keystone\n"
        f"[database]\nconnection = sqlite:///{workdir / 'neutron.db'}\n"
        f"[oslo_concurrency]\nlock_path = {workdir}\n"
        "[ml2]\nmechanism_drivers = openvswitch\ntype_drivers = flat,vlan,vxlan\n"
        "tenant_network_types = vxlan\nextension_drivers = port_security,qos\n"
        "[ml2_type_vxlan]\nvni_ranges = 1:1000\n"
    )
    from neutron import manager
    from neutron.api import extensions
    from neutron.common import config
    from neutron.db.migration.models import head  # noqa: F401  (all tables)
    from neutron_lib.db import model_base
    import sqlalchemy

    config.register_common_config_options()
    config.init(["--config-file", str(conf)])
    engine = sqlalchemy.create_engine(f"sqlite:///{workdir / 'neutron.db'}")
    model_base.BASEV2.metadata.create_all(engine)
    driver = Driver(config.load_paste_app("neutron"))
    [middleware] = [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, extensions.ExtensionMiddleware)
    ]
    mapper = middleware._router.mapper
    driver("GET", "/", "/")
    driver("GET", "/v2.0/", "/v2.0")
    driver("GET", "/v2.0/extensions", "/v2.0/extensions")
    driver("GET", "/v2.0/extensions/qos", "/v2.0/extensions/{id}")
    # Extension resources: what their own Routes mapper matches.
    send_every_route(driver, mapper, "/v2.0", lambda number: "/v2.0")
    # Core and service-plugin resources served by pecan: neutron's own
    # table of collections.
    collections = manager.NeutronManager.get_instance().resource_controller_mappings
    for number, collection in enumerate(sorted(collections)):
        if "/" in collection:
            continue
        item = random_id(number)
        driver.secrets.add(item)
        driver("GET", f"/v2.0/{collection}", f"/v2.0/{collection}")
        driver("GET", f"/v2.0/{collection}.json", f"/v2.0/{collection}")
        driver("GET", f"/v2.0/{collection}/{item}", f"/v2.0/{collection}/{{id}}")
        driver("GET", f"/v2.0/{collection}/{item}.json", f"/v2.0/{collection}/{{id}}")
        driver("POST", f"/v2.0/{collection}", f"/v2.0/{collection}", body={})
        driver("GET", f"/v2.0/{collection}/{item}/no-such-sub", UNMATCHED)
    for junk in ("/v2.0/no-such", "/v2.0/no-such/thing"):
        driver("GET", junk, UNMATCHED)
    send_every_pipeline(driver, paste, "network", {
        "neutronapiapp_v2_0": ("/v2.0", "/networks", "/v2.0/networks"),
        "neutronversions": ("", "/", "/"),
    })
    return driver


# -- cinder -------------------------------------------------------------------


def cinder(socket: str, workdir: Path) -> Driver:
    from cinder import objects

    objects.register_all()  # before the API modules, which annotate with them
    from cinder import rpc
    from cinder.api.v3 import router
    from cinder.common import config  # noqa: F401  (registers the options)
    from cinder.db import migration
    from oslo_config import cfg

    conf = service_conf(workdir, "cinder", default="auth_strategy = keystone\n")
    cfg.CONF(["--config-file", str(conf)], project="cinder")
    migration.db_sync()
    rpc.init(cfg.CONF)
    driver = paste_app("cinder", "osapi_volume", "volume", socket, workdir)
    mapper = router.APIRouter().map
    send_routes_api(driver, mapper, "/v3", "/volumes")
    send_every_pipeline(driver, workdir / "api-paste.ini", "volume", {
        "apiv3": ("/v3", "/volumes", routes_label(mapper, "/v3", "/volumes", "GET")),
        "osvolumeversionapp": ("", "/", "/"),
        "healthcheckapp": ("", "/", "/"),
    })
    return driver


# -- manila -------------------------------------------------------------------


def manila(socket: str, workdir: Path) -> Driver:
    from manila import rpc
    from manila.api.v2 import router
    from manila.common import config
    from oslo_config import cfg

    # No schema: manila's migrations do not run on SQLite, and routing
    # needs none (requests that reach the database answer 500).
    conf = service_conf(workdir, "manila", default="auth_strategy = keystone\n")
    cfg.CONF(["--config-file", str(conf)], project="manila")
    config.set_lib_defaults()
    rpc.init(cfg.CONF)
    driver = paste_app("manila", "osapi_share", "share", socket, workdir)
    mapper = router.APIRouter().map
    send_routes_api(driver, mapper, "/v2", "/shares")
    send_every_pipeline(driver, workdir / "api-paste.ini", "share", {
        "apiv2": ("/v2", "/shares", routes_label(mapper, "/v2", "/shares", "GET")),
        "osshareversionapp": ("", "/", "/"),
    })
    return driver


# -- heat ---------------------------------------------------------------------


def heat(socket: str, workdir: Path) -> Driver:
    from heat.api.cfn import v1 as cfn_v1
    from heat.api.openstack import v1
    from heat.common import config  # noqa: F401  (registers the options)
    from heat.common import messaging
    from heat.common import wsgi as heat_wsgi
    from oslo_config import cfg
    from oslo_log import log

    conf = service_conf(workdir, "heat", sections="[paste_deploy]\nflavor = noauth\n")
    log.register_options(cfg.CONF)
    cfg.CONF(["--config-file", str(conf)], project="heat")
    messaging.setup()
    paste = filtered_paste_file(
        Path(sys.prefix) / "etc/heat/api-paste.ini",
        workdir / "api-paste.ini",
        "orchestration",
        socket,
    )
    driver = Driver(heat_wsgi.paste_deploy_app(str(paste), "heat-api", cfg.CONF))
    # Every URL of heat's is under /v1/{tenant_id}, which the label leaves out.
    mapper = v1.API(cfg.CONF).map
    send_routes_api(driver, mapper, "/v1", f"/{PROJECT}/stacks")
    stacks = f"/{PROJECT}/stacks"
    cfn = cfn_v1.API(cfg.CONF).map
    # heat-api-cfn, a service of its own, has no noauth flavor.
    cfg.CONF.set_override("flavor", "default", group="paste_deploy")
    heat_wsgi.setup_paste_factories(cfg.CONF)
    try:
        send_every_pipeline(driver, paste, "orchestration", {
            "apiv1app": (
                "", "/v1" + stacks, routes_label(mapper, "/v1", stacks, "GET")
            ),
            "apicfnv1app": ("", "/", routes_label(cfn, "", "/", "GET")),
        })
    finally:
        heat_wsgi.teardown_paste_factories()
    return driver


# -- keystone -----------------------------------------------------------------

_FLASK_VARIABLE = re.compile(r"<(?:[^<>:]+:)?(\w+)>")


def keystone(socket: str, workdir: Path) -> Driver:
    from oslo_metrics_middleware import MetricsMiddleware

    conf = workdir / "keystone.conf"
    keys = workdir / "fernet-keys"
    credentials = workdir / "credential-keys"
    conf.write_text(
        f"[database]\nconnection = sqlite:///{workdir / 'keystone.db'}\n"
        f"[fernet_tokens]\nkey_repository = {keys}\n"
        f"[credential]\nkey_repository = {credentials}\n"
    )
    manage = Path(sys.executable).with_name("keystone-manage")
    owner = ["--keystone-user", str(os.getuid()), "--keystone-group", str(os.getgid())]
    setups = (["db_sync"], ["fernet_setup", *owner], ["credential_setup", *owner])
    for command in setups:
        subprocess.run(
            [str(manage), "--config-file", str(conf), *command],
            check=True,
            capture_output=True,
        )
    from keystone.server.flask import core

    del sys.argv[1:]  # keystone parses the command line as its own
    flask_app = core.initialize_application("public", config_files=[str(conf)])
    # keystone has no paste pipeline: the filter wraps its WSGI application,
    # as a deployment's WSGI script would.
    driver = Driver(MetricsMiddleware(flask_app, filter_options("identity", socket)))
    url_map = flask_app.url_map
    matcher = url_map.bind("127.0.0.1")

    def label(script_name: str, path: str, method: str) -> str:
        try:
            rule, _ = matcher.match(path, method, return_rule=True)
        except Exception:  # werkzeug's NotFound, MethodNotAllowed, redirects
            return UNMATCHED
        template = _FLASK_VARIABLE.sub(r"{\1}", rule.rule).rstrip("/") or "/"
        return script_name + template if template != "/" else script_name or "/"

    for number, rule in enumerate(sorted(url_map.iter_rules(), key=str)):
        if rule.endpoint == "static":
            continue
        method = sorted((rule.methods or {"GET"}) - {"HEAD", "OPTIONS"} or {"GET"})[0]
        path, values = fill_template(_FLASK_VARIABLE.sub(r"{\1}", rule.rule), number)
        driver.secrets.update(values.values())
        body = {} if method in ("POST", "PUT", "PATCH") else None
        # Served at the root and under a prefix, as deployments do.
        script_name = ("", "/identity")[number % 2]
        driver(method, path, label(script_name, path, method), body=body,
               script_name=script_name)
    for junk in ("/v3/no-such", f"/v3/users/{uuid.uuid4()}/no/such"):
        driver("GET", junk, label("", junk, "GET"))
    return driver


# -- glance -------------------------------------------------------------------


def glance(socket: str, workdir: Path) -> Driver:
    # Imported before the options are parsed: they register more.
    from glance.api.v2 import router as _router  # noqa: F401
    from glance.common import config
    from glance.common import wsgi as glance_wsgi
    from paste import deploy

    conf = workdir / "glance-api.conf"
    conf.write_text(
        "[DEFAULT]\ntransport_url = fake:/\n"
        f"image_cache_dir = {workdir / 'cache'}\n"
        f"[database]\nconnection = sqlite:///{workdir / 'glance.db'}\n"
        f"[oslo_concurrency]\nlock_path = {workdir}\n"
        "[paste_deploy]\nflavor = keystone\n"
    )
    config.parse_args(["--config-file", str(conf)])
    paste = filtered_paste_file(
        Path(sys.prefix) / "etc/glance/glance-api-paste.ini",
        workdir / "glance-api-paste.ini",
        "image",
        socket,
    )
    driver = Driver(deploy.loadapp(f"config:{paste}", name="glance-api-keystone"))
    [router] = [obj for obj in gc.get_objects() if isinstance(obj, glance_wsgi.Router)]
    mapper = router.map
    driver("GET", "/", "/")
    # Supported minor versions are rewritten to /v2 by glance itself.
    send_every_route(
        driver, mapper, "/v2", lambda number: ("/v2", "/v2.16")[number % 2]
    )
    image = str(uuid.uuid4())
    driver.secrets.add(image)
    # Versions glance does not serve: answered 300, only the version kept.
    driver("GET", "/v1/images", "/v1/__unmatched__")
    driver("GET", f"/v3/images/{image}", "/v3/__unmatched__")
    driver("GET", f"/v2.99/images/{image}", "/v2.99/__unmatched__")
    driver("GET", "/foo/bar", UNMATCHED)
    driver("GET", "/v2/no-such", UNMATCHED)
    images = routes_label(mapper, "/v2", "/images", "GET")
    send_every_pipeline(driver, paste, "image", {"rootapp": ("", "/v2/images", images)})
    return driver


SERVICES: dict[str, Callable[[str, Path], Driver]] = {
    "cinder": cinder,
    "glance": glance,
    "heat": heat,
    "ironic": ironic,
    "keystone": keystone,
    "manila": manila,
    "neutron": neutron,
    "nova": nova,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("service", choices=sorted(SERVICES))
    parser.add_argument("--socket", required=True)
    parser.add_argument("--workdir", required=True, type=Path)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    driver = SERVICES[args.service](args.socket, args.workdir)
    flush_filters()
    with (args.workdir / "sent.json").open("w") as out:
        json.dump({"sent": driver.sent, "secrets": sorted(driver.secrets)}, out)


if __name__ == "__main__":
    main()
