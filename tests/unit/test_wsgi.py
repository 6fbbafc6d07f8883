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

"""The entry point that wraps an application named in the environment."""

from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys

from oslo_config import cfg
import pytest

from oslo_metrics_middleware import wsgi
from tests import wsgi as calls
from tests.unit.conftest import DatagramSink
from tests.unit.conftest import rows

REPO = Path(__file__).resolve().parents[2]
APP = "tests.functional.apps.wrapped_app:application"
PREFIX = "oslo_metrics_middleware.wsgi: error: "


def import_wrapper(**env: str) -> subprocess.CompletedProcess[str]:
    """Import the entry point as a server would, in a fresh process."""
    clean = {k: v for k, v in os.environ.items() if k not in wsgi.SETTINGS}
    return subprocess.run(
        [sys.executable, "-c", "import oslo_metrics_middleware.wsgi"],
        cwd=REPO, env={**clean, **env}, capture_output=True, text=True,
        timeout=60, check=False,
    )


@pytest.mark.parametrize(("spec", "reason"), [
    ("keystone_missing.wsgi.api:application",
     "OSLO_METRICS_WRAP_APP=keystone_missing.wsgi.api:application: cannot "
     "import keystone_missing.wsgi.api: ModuleNotFoundError: No module "
     "named 'keystone_missing'"),
    ("tests.functional.apps.nothing_here:application",
     "OSLO_METRICS_WRAP_APP=tests.functional.apps.nothing_here:application: "
     "cannot import tests.functional.apps.nothing_here: no such module"),
    ("keystone.wsgi.api",
     "OSLO_METRICS_WRAP_APP='keystone.wsgi.api' is not of the form "
     "module:attribute"),
    ("keystone.wsgi.api:application()",
     "OSLO_METRICS_WRAP_APP='keystone.wsgi.api:application()' is not of the "
     "form module:attribute"),
])
def test_a_missing_app_stops_the_import_with_one_line(spec: str, reason: str) -> None:
    result = import_wrapper(OSLO_METRICS_WRAP_APP=spec)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [PREFIX + reason]


def test_the_import_does_not_build_the_app() -> None:
    # The module names an app whose import fails: only a request builds it.
    result = import_wrapper(
        OSLO_METRICS_WRAP_APP="tests.functional.apps.broken_app:application"
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def wrapped(sink: DatagramSink, **env: str) -> wsgi.WrappedApplication:
    return wsgi.WrappedApplication({
        "OSLO_METRICS_WRAP_APP": APP,
        "OSLO_METRICS_SERVICE_NAME": "identity",
        "OSLO_METRICS_CONFIG_PROJECT": "oslo_metrics_test_absent",
        **env,
    })


def test_requests_are_measured_with_the_service_name(
    sink: DatagramSink, tmp_path: Path
) -> None:
    conf = tmp_path / "service.conf"
    conf.write_text(
        "[oslo_metrics_middleware]\n"
        f"metrics_socket_file = {sink.path}\n"
        "flush_interval = 0.01\nexit_grace_period = 0\n"
    )
    app = wrapped(sink, OSLO_METRICS_CONFIG_FILE=str(conf))
    for path in ("/v3", "/v3/users/abc"):
        status, body = calls.call(app, calls.environ("GET", path))
        assert (status, body) == ("200 OK", path.encode())
    got = rows(sink.messages())
    assert [(r[0], r[1], r[3]) for r in got] == [
        ("identity", "GET", 200), ("identity", "GET", 200)
    ]


def test_settings_may_come_with_the_request(
    sink: DatagramSink, tmp_path: Path
) -> None:
    """Apache's SetEnv reaches the request environ, not the process."""
    conf = tmp_path / "service.conf"
    conf.write_text(
        f"[oslo_metrics_middleware]\nmetrics_socket_file = {sink.path}\n"
        "flush_interval = 0.01\nexit_grace_period = 0\nservice_name = placement\n"
    )
    app = wsgi.WrappedApplication({})
    env = calls.environ(
        "GET", "/resource_providers",
        OSLO_METRICS_WRAP_APP=APP,
        OSLO_METRICS_CONFIG_PROJECT="placement",
        OSLO_METRICS_CONFIG_FILE=str(conf),
    )
    assert calls.call(app, env)[0] == "200 OK"
    assert [(r[0], r[3]) for r in rows(sink.messages())] == [("placement", 200)]


def test_without_any_setting_a_request_gets_500_and_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = wsgi.WrappedApplication({})
    assert calls.call(app, calls.environ("GET", "/v3")) == (
        "500 Internal Server Error", b""
    )
    assert capsys.readouterr().err.splitlines() == [
        PREFIX + "OSLO_METRICS_WRAP_APP is not set: name the application to "
        "measure, e.g. keystone.wsgi.api:application"
    ]


@pytest.mark.parametrize(("spec", "reason"), [
    ("tests.functional.apps.broken_app:application",
     "importing tests.functional.apps.broken_app failed: RuntimeError: no "
     "database configured: [database] connection is unset"),
    ("tests.functional.apps.wrapped_app:missing",
     "tests.functional.apps.wrapped_app has no missing"),
    ("tests.functional.apps.wrapped_app:not_callable",
     "not_callable is a str, not a WSGI application"),
])
def test_an_app_that_cannot_be_built_answers_500_each_time(
    spec: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = wsgi.WrappedApplication({"OSLO_METRICS_WRAP_APP": spec})
    for _ in range(2):  # each 500 says why, in the first failure's words
        assert calls.call(app, calls.environ())[0] == "500 Internal Server Error"
    assert capsys.readouterr().err.splitlines() == [
        f"{PREFIX}OSLO_METRICS_WRAP_APP={spec}: {reason}"
    ] * 2


def test_a_bad_filter_option_answers_500_with_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "service.conf"
    conf.write_text("[oslo_metrics_middleware]\nflush_interval = nan\n")
    app = wsgi.WrappedApplication({
        "OSLO_METRICS_WRAP_APP": APP, "OSLO_METRICS_CONFIG_FILE": str(conf),
    })
    assert calls.call(app, calls.environ())[0] == "500 Internal Server Error"
    assert capsys.readouterr().err.splitlines() == [
        PREFIX + "ConfigurationError: Invalid value for option "
        "[oslo_metrics_middleware] flush_interval = nan: the value must be a "
        "finite number"
    ]


def test_filter_conf_service_label() -> None:
    """The service names itself; the package only when nothing else does."""
    module = "keystone.wsgi.api"
    named = {"OSLO_METRICS_SERVICE_NAME": "identity"}
    assert wsgi.filter_conf(named, module) == {"service_name": "identity"}
    with_file = {"OSLO_METRICS_CONFIG_FILE": "/etc/placement/placement.conf"}
    assert wsgi.filter_conf(with_file, "placement.wsgi.api") == {
        "oslo_config_project": "placement",
        "oslo_config_file": "/etc/placement/placement.conf",
    }
    assert getattr(cfg.CONF, "project", None) is None
    assert wsgi.filter_conf({}, module) == {"service_name": "keystone"}
