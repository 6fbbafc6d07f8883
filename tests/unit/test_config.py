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

"""Bad configuration fails at load, naming the option and the value."""

from __future__ import annotations

from collections.abc import Iterable
import logging
from pathlib import Path
import socket
from typing import Any

from oslo_config import cfg
from paste.deploy import loadapp
import pytest

from oslo_metrics_middleware import MetricsMiddleware
from oslo_metrics_middleware.middleware import ConfigurationError
from tests.unit.conftest import DatagramSink
from tests.unit.conftest import make_filter
from tests.wsgi import call
from tests.wsgi import environ


def app(env: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [])
    return [b"ok"]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_routes", ""),
        ("max_routes", "0"),
        ("max_routes", "-5"),
        ("buffer_size", "lots"),
        ("buffer_size", "0"),
        ("enabled", "maybe"),
        ("flush_interval", "0"),
        ("route_resolvers", "routes,nonexistent"),
        ("route_table_file", "/nonexistent/routes.txt"),
        ("action_peek_bytes", "1"),
        ("max_label_values", "0"),
        ("action_label", "perhaps"),
        ("max_label_values", ""),
        ("action_peek_bytes", ""),
        ("buffer_size", ""),
        ("buffer_size", "-5"),
        ("flush_interval", ""),
        ("flush_interval", "nan"),
        ("flush_interval", "inf"),
        ("flush_interval", "-1"),
        ("exit_grace_period", "nan"),
        ("exit_grace_period", "-1"),
        ("enabled", ""),
        ("excluded_paths", "healthcheck"),
        ("metrics_socket_file", ""),
        ("metrics_socket_file", "/tmp/" + "x" * 103),
        ("metrics_socket_file", "/tmp"),
        ("batch_format", "1"),
        ("batch_format", "4"),
    ],
)
def test_unusable_paste_value_fails_at_load(
    sink: DatagramSink, option: str, value: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        make_filter(app, sink, **{option: value})
    assert f"] {option} = {value!r}: " in str(raised.value)
    assert "\n" not in str(raised.value)


def test_empty_value_in_the_config_file_fails_at_load(tmp_path: Path) -> None:
    config = tmp_path / "api.conf"
    config.write_text("[oslo_metrics_middleware]\nmax_routes =\n")
    conf = cfg.ConfigOpts()
    conf([], project="nova", default_config_files=[str(config)])
    with pytest.raises(ConfigurationError, match=r"\] max_routes = None: "):
        MetricsMiddleware(app, conf)


def _paste_ini(tmp_path: Path, options: str) -> str:
    ini = tmp_path / "api-paste.ini"
    ini.write_text(
        "[pipeline:main]\npipeline = metrics app\n\n"
        "[app:app]\npaste.app_factory = tests.unit.test_config:app_factory\n\n"
        "[filter:metrics]\n"
        "paste.filter_factory = oslo_metrics_middleware:MetricsMiddleware.factory\n"
        f"metrics_socket_file = {tmp_path / 'daemon.sock'}\n"
        f"service_name = compute\n{options}"
    )
    return f"config:{ini}"


def app_factory(global_conf: dict[str, str], **local_conf: str) -> Any:
    return app


def test_misspelled_paste_option_fails_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"Unknown option buffer_sise = '5'"):
        loadapp(_paste_ini(tmp_path, "buffer_sise = 5\n"))
    # Keys of the [DEFAULT] section are the server's, not the filter's.
    loaded = loadapp(_paste_ini(tmp_path, "exit_grace_period = 0\n"),
                     global_conf={"debug": "true"})
    assert call(loaded, environ()) == ("200 OK", b"ok")


def test_socket_in_a_missing_directory_warns_once_then_says_it_works(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "run"
    path = directory / "daemon.sock"
    caplog.set_level(logging.INFO, logger="oslo_metrics_middleware")
    conf = {
        "metrics_socket_file": str(path),
        "exit_grace_period": "0",
        "service_name": "compute",
    }
    mw = MetricsMiddleware(app, conf)
    MetricsMiddleware(app, conf)
    for _ in range(3):
        call(mw, environ())
        mw.sender.flush()
    directory.mkdir()
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    try:
        call(mw, environ())
        mw.sender.flush()
        mw.sender.flush()
        assert mw.sender.delivered == 4
    finally:
        receiver.close()
    messages = [
        (record.levelname, record.getMessage()) for record in caplog.records
    ]
    assert messages == [
        ("WARNING", f"Metrics socket {path} not usable yet: its directory "
         f"{directory} does not exist (yet); samples are held until the "
         "collector creates it"),
        ("INFO", f"Metrics delivery to {path} works"),
    ]
