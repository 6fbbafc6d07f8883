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

"""gunicorn and uWSGI serving a paste file with no service_name: the label
is the service's, never the server's; with nothing naming it, the load
fails."""

from __future__ import annotations

from pathlib import Path
import signal
import sys

import pytest

from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import servers

REQUESTS = 5


def paste_file(path: Path, collector: CollectorProcess) -> Path:
    path.parent.mkdir(parents=True)
    path.write_text(
        "[pipeline:main]\npipeline = metrics compute\n\n"
        "[app:compute]\n"
        "paste.app_factory = oslo_metrics_middleware.demo.sample_api:app_factory\n\n"
        "[filter:metrics]\n"
        "paste.filter_factory = oslo_metrics_middleware:MetricsMiddleware.factory\n"
        f"metrics_socket_file = {collector.socket_path}\nflush_interval = 0.05\n"
    )
    return path


def serve(name: str, ini: Path, workdir: Path) -> servers.ServerProcess:
    """gunicorn or uWSGI loading the paste file themselves."""
    if name == "gunicorn":
        return servers.gunicorn_server(
            workdir, {}, workers=1, app="", extra=["--paste", str(ini)]
        )
    port = servers.free_port()
    argv = [
        str(servers.VENV_BIN / "uwsgi"), "--master", "--processes", "1",
        "--http-socket", f"127.0.0.1:{port}", "--home", sys.prefix,
        "--paste", f"config:{ini}", "--need-app", "--die-on-term",
        "--disable-logging",
    ]
    return servers.ServerProcess(
        "uwsgi", argv, port, workdir, {}, stop_signal=signal.SIGINT
    )


@pytest.mark.parametrize("server_name", ["gunicorn", "uwsgi"])
def test_label_is_the_project_of_the_paste_file_not_the_server(
    collector: CollectorProcess, tmp_path: Path, server_name: str
) -> None:
    ini = paste_file(tmp_path / "etc" / "nova" / "api-paste.ini", collector)
    with serve(server_name, ini, tmp_path) as server:
        for _ in range(REQUESTS):
            status, _, _ = servers.request("GET", "/servers", server.port)
            assert status == 200
        series = servers.wait_for(
            collector,
            lambda s: servers.requests_counted(s) >= REQUESTS,
            timeout=10,
        )
    services = {
        dict(labels)["service"]
        for name, labels in series
        if name == f"{servers.DURATION}_count"
    }
    assert services == {"nova"}
    assert servers.requests_counted(series, service="nova") == REQUESTS


@pytest.mark.parametrize("server_name", ["gunicorn", "uwsgi"])
def test_nothing_naming_the_service_stops_the_server_with_one_line(
    collector: CollectorProcess, tmp_path: Path, server_name: str
) -> None:
    ini = paste_file(tmp_path / "conf" / "api-paste.ini", collector)
    server = serve(server_name, ini, tmp_path)
    with pytest.raises(servers.ServerError) as raised:
        server.start(timeout=30)
    server.stop()
    # The servers log the traceback; the error itself is one line of it.
    log = str(raised.value).splitlines()
    lines = [line for line in log if "ConfigurationError: " in line]
    assert lines == [
        "oslo_metrics_middleware.middleware.ConfigurationError: No service name "
        "for the metrics filter: set service_name in its paste section or in "
        "[oslo_metrics_middleware] of the service's configuration (it is not an "
        "oslo.config project and its paste file's path names none)"
    ]
