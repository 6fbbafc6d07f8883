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
from tests.report.conftest import send_paced
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


class _OtherExporter(_Garbage):
    """A valid metrics page of something else than the API collector."""

    def do_GET(self) -> None:
        body = b"# TYPE node_load1 gauge\nnode_load1 0.5\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def garbage_url() -> Iterator[str]:
    yield from _serve(_Garbage)


@pytest.fixture
def other_exporter_url() -> Iterator[str]:
    yield from _serve(_OtherExporter)


def record(collector: CollectorProcess, store: Path, plan: dict[str, int],
           *extra: str) -> tuple[int, int]:
    """Record ``collector`` for 1.5 s while ``plan`` is sent; the exit
    status and the requests sent."""
    status: list[int] = []
    recording = threading.Thread(target=lambda: status.append(cli.main([
        "--scrape", collector.metrics_url, "--interval", "0.3s",
        "--duration", "1.5s", "--store", str(store), "--format", "json",
        "--output", str(store.with_suffix(".json")), "--no-progress",
        *extra])))
    recording.start()
    time.sleep(0.5)  # after the baseline scrape
    sent = send_paced(collector.socket_path, plan) if plan else None
    recording.join(30)
    assert not recording.is_alive()
    return status[0], sum(sent.requests.values()) if sent else 0


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recording of compute: 5 fast requests and 2 unmatched."""
    store = tmp_path_factory.mktemp("recording") / "compute.jsonl"
    with CollectorProcess() as collector:
        assert record(collector, store, {"fast": 5, "missing": 2}) == (0, 7)
    return store


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
    assert err.endswith("; there are some at other times (services: "
                        "compute)\n")


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


def test_workers_for_a_service_not_in_the_data(
    recording: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = fails(capsys, "--from-file", str(recording),
                        "--workers", "compute=2", "--workers", "image=4x2")
    assert status == 1
    assert ("--workers image=4x2: no service 'image' in the data "
            "(services: compute)") in err


def test_service_not_in_the_recording(
    recording: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = fails(capsys, "--from-file", str(recording),
                        "--service", "image")
    assert status == 1
    assert "--service image: no such service in scrapes of " in err
    assert err.endswith("(services: compute)\n")


@pytest.mark.parametrize(("config", "message"), [
    ("[worker]\ncompute = 4\n",
     "unknown section [worker] (known: [workers], [capacity])"),
    ("[capacity]\ntarget = 0.5\n",
     "unknown key 'target' in [capacity] (known: target_utilisation)"),
    ("[DEFAULT]\ncompute = 4\n", "unknown key 'compute' in [DEFAULT]"),
])
def test_capacity_config_typos(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    config: str, message: str,
) -> None:
    path = tmp_path / "capacity.ini"
    path.write_text(config)
    status, err = fails(capsys, "--from-file", str(recording),
                        "--capacity-config", str(path))
    assert status == 1
    assert f"capacity config {path}: {message}" in err


def test_capacity_config_service_not_in_the_data(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "capacity.ini"
    path.write_text("[workers]\ncompute = 2x2\nimage = 4\n")
    status, err = fails(capsys, "--from-file", str(recording),
                        "--capacity-config", str(path))
    assert status == 1
    assert (f"capacity config {path} [workers] image: no service 'image' "
            "in the data (services: compute)") in err
    # Left out with --service, the other services' workers are no error.
    output = tmp_path / "r.json"
    assert cli.main(["--from-file", str(recording), "--capacity-config",
                     str(path), "--service", "compute", "--format", "json",
                     "--output", str(output)]) == 0
    [compute] = json.loads(output.read_text())["capacity"]
    assert compute["workers"] == 4


def test_service_exists_but_had_no_requests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "idle.jsonl"
    with CollectorProcess() as collector:
        send_paced(collector.socket_path, {"fast": 3})
        assert record(collector, store, {}) == (1, 0)
    err = capsys.readouterr().err
    assert err.startswith("oslo-metrics-middleware report: error: ")
    assert "no API requests between " in err
    assert err.endswith("service compute exists but served none in that "
                        "range\n")


@pytest.mark.parametrize("engine", ["prometheus", "victoriametrics"])
def test_unknown_service_in_prometheus(
    one_host: Deployment, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    url = one_host.engines[engine].url
    range_ = ("--start", f"{one_host.start:.3f}", "--end",
              f"{one_host.end:.3f}")
    status, err = fails(capsys, "--prometheus", url, "--service", "image",
                        *range_)
    assert status == 1
    assert (f"--service image: no such service in Prometheus at {url} "
            "(services: compute)") in err
    status, err = fails(capsys, "--prometheus", url,
                        "--service", "compute",
                        "--start", "2001-01-01T00:00:00Z",
                        "--end", "2001-01-02T00:00:00Z")
    assert status == 1
    assert ("service 'compute' has no API requests between "
            "2001-01-01T00:00:00Z and 2001-01-02T00:00:00Z; it has some at "
            "other times") in err
    status, err = fails(capsys, "--prometheus", url, "--workers", "image=2",
                        *range_)
    assert status == 1
    assert "--workers image=2: no service 'image' in the data" in err


def test_store_is_never_overwritten(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "kept.jsonl"
    store.write_bytes(recording.read_bytes())
    with CollectorProcess() as collector:
        status, err = fails(capsys, "--scrape", collector.metrics_url,
                            "--interval", "0.2s", "--duration", "0.4s",
                            "--store", str(store))
    assert status == 1
    assert (f"--store {store} exists: --append adds to it, --force "
            "overwrites it") in err
    assert store.read_bytes() == recording.read_bytes()


def test_store_append_and_force(tmp_path: Path) -> None:
    store = tmp_path / "compute.jsonl"
    with CollectorProcess() as collector:
        assert record(collector, store, {"fast": 4}) == (0, 4)
        # Requests between the recordings count in the next one.
        send_paced(collector.socket_path, {"fast": 2})
        assert record(collector, store, {"fast": 3, "missing": 1},
                      "--append") == (0, 4)
        both = json.loads(store.with_suffix(".json").read_text())
        assert sum(e["requests"] for e in both["endpoints"]) == 10
        assert record(collector, store, {"fast": 5}, "--force") == (0, 5)
        fresh = json.loads(store.with_suffix(".json").read_text())
        assert sum(e["requests"] for e in fresh["endpoints"]) == 5


def test_append_needs_the_same_targets(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "kept.jsonl"
    store.write_bytes(recording.read_bytes())
    with CollectorProcess() as collector:
        status, err = fails(capsys, "--scrape", collector.metrics_url,
                            "--interval", "0.3s", "--duration", "0.3s",
                            "--store", str(store), "--append")
    assert status == 1
    assert f"--append: {store} was recorded from http://" in err
    assert store.read_bytes() == recording.read_bytes()


def test_scrape_of_a_page_without_api_metrics_stops_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
    other_exporter_url: str,
) -> None:
    began = time.monotonic()
    status, err = fails(capsys, "--scrape", f"{other_exporter_url}/metrics",
                        "--store", str(tmp_path / "s.jsonl"))
    assert time.monotonic() - began < 5  # not the 10 min --duration
    assert status == 1
    assert (f"{other_exporter_url}/metrics has no "
            "openstack_api_request_duration_seconds metric") in err
