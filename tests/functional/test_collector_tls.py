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

"""/metrics over TLS with basic authentication, scraped by a real Prometheus."""

from __future__ import annotations

import base64
import json
from pathlib import Path
import ssl
import subprocess
import urllib.error
import urllib.request

import bcrypt
import pytest

from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import collectors
from tests.report.conftest import PrometheusServer
from tests.report.conftest import wait_for

PASSWORD = "correct horse"


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    cert, key = directory / "metrics.crt", directory / "metrics.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def _web_config(directory: Path) -> Path:
    _certificate(directory)
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    path = directory / "web.yml"
    path.write_text(
        "tls_server_config:\n  cert_file: metrics.crt\n  key_file: metrics.key\n"
        f"basic_auth_users:\n  prometheus: '{hashed}'\n"
    )
    return path


def _status(url: str, context: ssl.SSLContext, password: str | None) -> int:
    request = urllib.request.Request(url)
    if password is not None:
        token = base64.b64encode(f"prometheus:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as page:
            return int(page.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _job(name: str, target: str, cert: Path, password: str) -> dict[str, object]:
    return {
        "job_name": name, "scheme": "https",
        "tls_config": {"ca_file": str(cert)},
        "basic_auth": {"username": "prometheus", "password": password},
        "static_configs": [{"targets": [target]}],
    }


def test_prometheus_scrapes_over_tls_with_basic_auth(tmp_path: Path) -> None:
    web = _web_config(tmp_path)
    cert = tmp_path / "metrics.crt"
    options = {"web_config_file": str(web)}
    tls = ssl.create_default_context(cafile=str(cert))
    with CollectorProcess(workdir=tmp_path, options=options, tls=tls) as collector:
        collectors.send(collector.socket_path, collectors.batch([collectors.row()] * 3))
        url = collector.metrics_url
        assert _status(url, tls, PASSWORD) == 200
        assert _status(url, tls, "wrong") == 401
        assert _status(url, tls, None) == 401
        with pytest.raises(OSError):  # plain HTTP is not served
            urllib.request.urlopen(url.replace("https:", "http:"), timeout=10)
        target = f"127.0.0.1:{collector.port}"
        prometheus = PrometheusServer(tmp_path, [target])
        prometheus.config.write_text(json.dumps({
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [_job("right", target, cert, PASSWORD),
                               _job("wrong", target, cert, "wrong")],
        }))
        prometheus.start()
        try:
            wait_for(lambda: len(prometheus.query("up")) == 2, 30, "two targets")
            prometheus.wait_for_count(3)
            up = {r["metric"]["job"]: r["value"][1] for r in prometheus.query("up")}
            assert up == {"right": "1", "wrong": "0"}
            counted = prometheus.query(
                "sum by (job) (openstack_api_request_duration_seconds_count)"
            )
            assert [(r["metric"]["job"], r["value"][1]) for r in counted] == [
                ("right", "3")
            ]
        finally:
            prometheus.stop()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("tls_server_config:\n  cert_file: metrics.crt\n  key_file: metrics.key\n"
         "  client_ca_file: ca.crt\n",
         "tls_server_config: unknown key client_ca_file (known: cert_file, key_file)"),
        ("basic_auth_user:\n  prometheus: x\n",
         "unknown key basic_auth_user (known: tls_server_config, basic_auth_users)"),
        ("basic_auth_users:\n  prometheus: secret\n",
         "basic_auth_users: the password of prometheus is not a bcrypt hash"),
        ("tls_server_config:\n  cert_file: metrics.crt\n",
         "tls_server_config needs both cert_file and key_file"),
        ("tls_server_config:\n  cert_file: missing.crt\n  key_file: metrics.key\n",
         "cannot load TLS certificate"),
        ("- a list\n", "expected a mapping"),
        ("a: [\n", "is not YAML"),
    ],
)
def test_a_web_config_error_is_one_line_naming_it(
    tmp_path: Path, content: str, message: str
) -> None:
    _certificate(tmp_path)
    web = tmp_path / "web.yml"
    web.write_text(content)
    collector = CollectorProcess(
        workdir=tmp_path, options={"web_config_file": str(web)}
    )
    assert message in collectors.error(collector)
