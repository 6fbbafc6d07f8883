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

"""The service label: named, or the service's own, never a program's."""

from __future__ import annotations

from pathlib import Path
import sys

from oslo_config import cfg
from paste.deploy import loadapp
import pytest

from oslo_metrics_middleware import MetricsMiddleware
from oslo_metrics_middleware.middleware import ConfigurationError
from oslo_metrics_middleware.middleware import project_of_paste_file
from tests.unit.test_config import app

NO_NAME = (
    "No service name for the metrics filter: set service_name in its paste "
    "section or in [oslo_metrics_middleware] of the service's configuration "
    "(it is not an oslo.config project and its paste file's path names none)"
)


@pytest.fixture(autouse=True)
def server_program(monkeypatch: pytest.MonkeyPatch) -> None:
    """As under gunicorn, with no oslo.config project parsed."""
    monkeypatch.setattr(sys, "argv", ["/usr/bin/gunicorn", "--paste", "x.ini"])
    monkeypatch.setattr(cfg.CONF, "project", None, raising=False)


def _filter(conf: dict[str, str] | cfg.ConfigOpts, tmp_path: Path) -> MetricsMiddleware:
    if isinstance(conf, dict):
        conf = {"metrics_socket_file": str(tmp_path / "s.sock"), **conf}
    return MetricsMiddleware(app, conf)


def test_without_anything_naming_the_service_the_filter_refuses_to_load(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        _filter({}, tmp_path)
    assert str(raised.value) == NO_NAME


def test_an_empty_service_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        _filter({"service_name": "", "__file__": "/etc/nova/api-paste.ini"}, tmp_path)
    assert str(raised.value) == (
        "Invalid value for option [oslo_metrics_middleware] service_name = '': "
        "a value is required"
    )


def test_a_configuration_never_loaded_names_no_project(tmp_path: Path) -> None:
    """A ConfigOpts the service has not called has no project at all."""
    with pytest.raises(ConfigurationError) as raised:
        MetricsMiddleware(app, cfg.ConfigOpts())
    assert str(raised.value) == NO_NAME


def test_service_name_wins_over_project_and_paste_file(tmp_path: Path) -> None:
    conf = {"service_name": "compute", "__file__": "/etc/nova/api-paste.ini"}
    assert _filter(conf, tmp_path).service == "compute"


def test_the_oslo_config_project_comes_next(tmp_path: Path) -> None:
    config = tmp_path / "cinder.conf"
    config.write_text(
        f"[oslo_metrics_middleware]\nmetrics_socket_file = {tmp_path / 's.sock'}\n"
    )
    conf = cfg.ConfigOpts()
    conf([], project="cinder", default_config_files=[str(config)])
    assert MetricsMiddleware(app, conf).service == "cinder"
    paste = {
        "oslo_config_project": "manila",
        "oslo_config_file": str(config),
        "__file__": "/etc/nova/api-paste.ini",
    }
    assert _filter(paste, tmp_path).service == "manila"


@pytest.mark.parametrize(
    ("path", "project"),
    [
        ("/etc/nova/api-paste.ini", "nova"),
        ("/opt/stack/venv/etc/heat/api-paste.ini", "heat"),
        ("/etc/glance/glance-api-paste.ini", "glance"),
        ("/srv/conf/manila-paste.ini", "manila"),
        ("etc/cinder/api-paste.ini", "cinder"),
        ("/var/lib/kolla/config_files/api-paste.ini", None),
        ("/tmp/api-paste.ini", None),
        ("/etc/api-paste.ini", None),
        ("api-paste.ini", None),
        ("/etc/Nova/api-paste.ini", None),
        ("", None),
    ],
)
def test_project_of_a_paste_file_comes_from_where_it_is_installed(
    path: str, project: str | None
) -> None:
    assert project_of_paste_file(path) == project


def _paste_file(path: Path, options: str = "") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "[pipeline:main]\npipeline = metrics app\n\n"
        "[app:app]\npaste.app_factory = tests.unit.test_config:app_factory\n\n"
        "[filter:metrics]\n"
        "paste.filter_factory = oslo_metrics_middleware:MetricsMiddleware.factory\n"
        f"metrics_socket_file = {path.parent / 'daemon.sock'}\n{options}"
    )
    return f"config:{path}"


def test_a_paste_file_under_etc_project_names_the_service(tmp_path: Path) -> None:
    loaded = loadapp(_paste_file(tmp_path / "etc" / "nova" / "api-paste.ini"))
    assert isinstance(loaded, MetricsMiddleware)
    assert loaded.service == "nova"


def test_a_paste_file_that_names_nothing_fails_the_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        loadapp(_paste_file(tmp_path / "api-paste.ini"))
    assert str(raised.value) == NO_NAME
    named = loadapp(_paste_file(tmp_path / "b" / "api-paste.ini", "service_name = x\n"))
    assert named.service == "x"
