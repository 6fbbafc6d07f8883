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

"""Bad input gives one line and a non-zero exit; the embedded scraper."""

from __future__ import annotations

from collections.abc import Iterator
import http.server
import json
from pathlib import Path
import threading
import time

import pytest

from oslo_metrics_middleware.collector.process import CollectorProcess
from oslo_metrics_middleware.collector.process import free_port
from oslo_metrics_middleware.report import cli
from tests.report.conftest import Deployment
from tests.report.conftest import PrometheusServer
from tests.report.conftest import send_traffic

pytestmark = pytest.mark.timeout(90)


class _Garbage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>not metrics</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def garbage_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def fails(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = cli.main([*argv, "--no-progress"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    assert err.startswith("oslo-metrics-middleware report: error: ")
    return status, err


def test_unreachable_prometheus(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    status, err = fails(capsys, "--prometheus", url, "--since", "1h")
    assert status == 1
    assert f"cannot reach Prometheus at {url}" in err


def test_not_a_prometheus(
    capsys: pytest.CaptureFixture[str], garbage_url: str
) -> None:
    status, err = fails(capsys, "--prometheus", garbage_url)
    assert status == 1
    assert "did not answer with JSON" in err


def test_start_not_before_end(capsys: pytest.CaptureFixture[str]) -> None:
    status, err = fails(capsys, "--prometheus", "http://127.0.0.1:9",
                        "--start", "1000", "--end", "1000")
    assert status == 2
    assert "empty time range" in err


def test_negative_graph_limit(capsys: pytest.CaptureFixture[str]) -> None:
    status, err = fails(capsys, "--prometheus", "http://127.0.0.1:9",
                        "--format", "html", "--graph-limit", "-1")
    assert status == 2
    assert "--graph-limit must be 0 or more: -1" in err


def test_range_without_data(
    one_host: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = fails(capsys, "--prometheus", one_host.prometheus.url,
                        "--start", "2001-01-01T00:00:00Z",
                        "--end", "2001-01-02T00:00:00Z")
    assert status == 1
    assert "no API requests recorded between 2001-01-01T00:00:00Z" in err


def test_metric_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prometheus = PrometheusServer(tmp_path, [])  # scrapes nothing
    prometheus.start()
    try:
        status, err = fails(capsys, "--prometheus", prometheus.url)
    finally:
        prometheus.stop()
    assert status == 1
    assert "metric openstack_api_request_duration_seconds_count not found" in err


def test_malformed_scrape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], garbage_url: str
) -> None:
    status, err = fails(capsys, "--scrape", f"{garbage_url}/metrics",
                        "--interval", "0.2s", "--duration", "0.2s",
                        "--store", str(tmp_path / "s.jsonl"))
    assert status == 1
    assert f"malformed scrape from {garbage_url}/metrics" in err


def test_bad_option_values(capsys: pytest.CaptureFixture[str]) -> None:
    status, err = fails(capsys, "--prometheus", "http://127.0.0.1:9",
                        "--since", "a week")
    assert (status, "not a duration" in err) == (2, True)
    status, err = fails(capsys, "--prometheus", "http://127.0.0.1:9",
                        "--workers", "compute=four")
    assert (status, "--workers" in err) == (2, True)


def test_scrape_file_not_a_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"hello": 1}\n')
    status, err = fails(capsys, "--from-file", str(path))
    assert status == 1
    assert "is not a scrape file" in err


def test_record_scrapes_then_report(tmp_path: Path) -> None:
    """Embedded default: scrape two collectors into a file, report later."""
    store, output = tmp_path / "scrapes.jsonl", tmp_path / "r.json"
    with CollectorProcess() as one, CollectorProcess() as two:
        recording = threading.Thread(target=cli.main, args=([
            "--scrape", one.metrics_url, "--scrape", two.metrics_url,
            "--interval", "0.5s", "--duration", "4s", "--store", str(store),
            "--format", "json", "--output", str(output), "--no-progress",
        ],))
        recording.start()
        time.sleep(0.8)  # after the baseline scrape
        sent_one = send_traffic(one.socket_path, {"show": 12, "crash": 2})
        sent_two = send_traffic(two.socket_path, {"show": 7, "bad": 3})
        recording.join(30)
    assert not recording.is_alive()
    sent = sent_one.add(sent_two)
    endpoints = {(e["method"], e["route"]): e
                 for e in json.loads(output.read_text())["endpoints"]}
    assert {key: e["requests"] for key, e in endpoints.items()} == {
        ("GET", "/v2.1/servers/{id}"): 19,
        ("GET", "/v2.1/os-crash"): 2,
        ("POST", "/v2.1/servers"): 3,
    }
    assert sum(sent.requests.values()) == 24
    assert endpoints[("POST", "/v2.1/servers")]["client_errors"] == 3
    assert endpoints[("GET", "/v2.1/os-crash")]["server_errors"] == 2
    # The same file reports again without the collectors.
    again = tmp_path / "again.csv"
    assert cli.main(["--from-file", str(store), "--format", "csv",
                     "--output", str(again)]) == 0
    assert len(again.read_text().splitlines()) == 4
