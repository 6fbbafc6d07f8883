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

"""Real Prometheus, real collectors and headless Chromium for report tests."""

from __future__ import annotations

import collections
from collections.abc import Callable
from collections.abc import Iterator
import concurrent.futures
import dataclasses
import io
import json
from pathlib import Path
import shutil
import subprocess
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request
import zlib

from paste.deploy import loadapp
import pytest

from oslo_metrics_middleware.collector.process import CollectorProcess
from oslo_metrics_middleware.collector.process import free_port
from oslo_metrics_middleware.middleware import MetricsMiddleware
from tests.conftest import PASTE_SAMPLE

REPO = Path(__file__).resolve().parents[2]
KNOWN_SERVER = "00000000-0000-0000-0000-000000000001"
MISSING_SERVER = "ffffffff-0000-0000-0000-000000000000"

# (method, path, body, route label the filter gives it)
REQUESTS = {
    "show": ("GET", f"/v2.1/servers/{KNOWN_SERVER}", b"", "/v2.1/servers/{id}"),
    "missing": ("GET", f"/v2.1/servers/{MISSING_SERVER}", b"",
                "/v2.1/servers/{id}"),
    "detail": ("GET", "/v2.1/servers/detail", b"", "/v2.1/servers/detail"),
    "create": ("POST", "/v2.1/servers", b'{"server": {"name": "vm"}}',
               "/v2.1/servers"),
    "bad": ("POST", "/v2.1/servers", b'{"bad": true}', "/v2.1/servers"),
    "crash": ("GET", "/v2.1/os-crash", b"", "/v2.1/os-crash"),
    "flavor": ("GET", "/v2.1/flavors/1", b"", "/v2.1/flavors/{flavor_id}"),
    # The version document: well under a millisecond in the filter.
    "versions": ("GET", "/", b"", "/"),
}

Key = tuple[str, str, str]


def _needs(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (tools/test.sh installs it)")
    return path


@dataclasses.dataclass
class Traffic:
    """What the generator sent, per (service, method, route)."""

    requests: collections.Counter[Key] = dataclasses.field(
        default_factory=collections.Counter)
    client_errors: collections.Counter[Key] = dataclasses.field(
        default_factory=collections.Counter)
    server_errors: collections.Counter[Key] = dataclasses.field(
        default_factory=collections.Counter)
    bytes_in: collections.Counter[Key] = dataclasses.field(
        default_factory=collections.Counter)
    bytes_out: collections.Counter[Key] = dataclasses.field(
        default_factory=collections.Counter)
    slept: collections.Counter[Key] = dataclasses.field(
        default_factory=collections.Counter)  # seconds
    durations: dict[Key, list[float]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(list))
    # x-openstack-request-id -> (endpoint, seconds), when the app sets it.
    request_ids: dict[str, tuple[Key, float]] = dataclasses.field(
        default_factory=dict)

    def add(self, other: Traffic) -> Traffic:
        total = Traffic()
        for mine in (self, other):
            total.requests.update(mine.requests)
            total.client_errors.update(mine.client_errors)
            total.server_errors.update(mine.server_errors)
            total.bytes_in.update(mine.bytes_in)
            total.bytes_out.update(mine.bytes_out)
            total.slept.update(mine.slept)
            total.request_ids.update(mine.request_ids)
            for key, values in mine.durations.items():
                total.durations[key].extend(values)
        return total


def _environ(method: str, path: str, body: bytes) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "",
        "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(),
        "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json",
        "wsgi.multithread": True, "wsgi.multiprocess": False,
        "wsgi.run_once": False, "wsgi.version": (1, 0),
    }


def _call(app: Any, method: str, path: str,
          body: bytes) -> tuple[int, float, str | None]:
    """Status, seconds and the x-openstack-request-id of one request."""
    statuses: list[str] = []
    request_ids: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]],
                       exc: Any = None) -> None:
        statuses.append(status)
        request_ids.extend(value for name, value in headers
                           if name.lower() == "x-openstack-request-id")

    began = time.perf_counter()
    try:
        result = app(_environ(method, path, body), start_response)
        try:
            b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
    except Exception:  # the crash endpoint raises through the filter
        statuses.append("500 Internal Server Error")
    seconds = time.perf_counter() - began
    return (int(statuses[-1].split()[0]), seconds,
            request_ids[-1] if request_ids else None)


def send_traffic(socket_path: Path, plan: dict[str, int],
                 threads: int = 8, paste: Path = PASTE_SAMPLE) -> Traffic:
    """Send ``plan`` (request name -> count) through the paste pipeline.

    ``threads=1`` keeps sub-millisecond requests from waiting on the GIL.
    """
    app = loadapp(f"config:{paste}", name="osapi_compute",
                  global_conf={"metrics_socket_file": str(socket_path),
                               "flush_interval": "0.05"})
    work = [name for name, count in sorted(plan.items()) for _ in range(count)]
    traffic = Traffic()

    def one(name: str) -> tuple[str, int, float, str | None]:
        method, path, body, _ = REQUESTS[name]
        return (name, *_call(app, method, path, body))

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for name, status, seconds, request_id in pool.map(one, work):
            method, _, body, route = REQUESTS[name]
            key = ("compute", method, route)
            if request_id is not None:
                traffic.request_ids[request_id] = (key, seconds)
            traffic.requests[key] += 1
            traffic.bytes_in[key] += len(body)
            traffic.durations[key].append(seconds)
            if 400 <= status < 500:
                traffic.client_errors[key] += 1
            elif status >= 500:
                traffic.server_errors[key] += 1
    time.sleep(0.5)  # a few flush intervals for delivery
    return traffic


# Endpoints of known latency: (method, path, seconds slept, status, body,
# route label the filter gives it; a 404 is __unmatched__). Every request
# of "slow" lies in the 100-250 ms bucket, of "medium" in 50-100 ms, and
# the others well under 1 ms: their buckets are known without reading what
# the filter measured.
PACED = {
    "slow": ("GET", "/v2.1/slow", 0.15, 200, b"", "/v2.1/slow"),
    "medium": ("POST", "/v2.1/medium", 0.06, 201, b'{"name": "vm"}',
               "/v2.1/medium"),
    "fast": ("GET", "/v2.1/fast", 0.0, 200, b"", "/v2.1/fast"),
    "missing": ("GET", "/v2.1/missing", 0.0, 404, b"", "__unmatched__"),
    "broken": ("GET", "/v2.1/broken", 0.0, 500, b"", "/v2.1/broken"),
}


def _paced_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    [(_, _, seconds, status, _, _)] = [
        plan for plan in PACED.values() if plan[1] == environ["PATH_INFO"]]
    environ["wsgi.input"].read()  # request bytes count as the API reads them
    if seconds:
        time.sleep(seconds)
    start_response(f"{status} X", [("Content-Type", "text/plain")])
    return [b"x" * status]


def send_paced(socket_path: Path, plan: dict[str, int],
               threads: int = 8) -> Traffic:
    """Send ``plan`` (PACED name -> count) through the filter.

    ``Traffic.durations`` holds the client-side time of each request and
    ``Traffic.slept`` the seconds the app slept: the filter's busy time
    lies between their sums.
    """
    app = MetricsMiddleware.factory(
        {}, service_name="compute", metrics_socket_file=str(socket_path),
        flush_interval="0.05")(_paced_app)
    work = [name for name, count in sorted(plan.items()) for _ in range(count)]
    traffic = Traffic()

    def one(name: str) -> tuple[str, int, float]:
        method, path, _, _, body, _ = PACED[name]
        status, seconds, _ = _call(app, method, path, body)
        return name, status, seconds

    # The sleeping requests in parallel; the sub-millisecond ones on one
    # thread, so none waits for the GIL inside the filter's timing.
    slow = [name for name in work if PACED[name][2]]
    fast = [name for name in work if not PACED[name][2]]
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        done = list(pool.map(one, slow))
    done += map(one, fast)
    for name, status, seconds in done:
        method, _, slept, _, body, route = PACED[name]
        key = ("compute", method, route)
        traffic.requests[key] += 1
        traffic.bytes_in[key] += len(body)
        traffic.bytes_out[key] += status
        traffic.durations[key].append(seconds)
        traffic.slept[key] += slept
        if 400 <= status < 500:
            traffic.client_errors[key] += 1
        elif status >= 500:
            traffic.server_errors[key] += 1
    time.sleep(0.5)  # a few flush intervals for delivery
    return traffic


def scrape_config(targets: list[str], interval: str,
                  blind: list[str]) -> dict[str, Any]:
    """The Prometheus scrape config; VictoriaMetrics reads the same file.

    The ``blind`` targets lose process_start_time_seconds, as behind a
    federation or remote write that keeps only the API metrics.
    """
    job: dict[str, Any] = {"job_name": "openstack-api",
                           "static_configs": [{"targets": targets}]}
    if blind:
        job["metric_relabel_configs"] = [{
            "source_labels": ["__name__", "instance"], "action": "drop",
            "regex": f"process_start_time_seconds;({'|'.join(blind)})",
        }]
    return {"global": {"scrape_interval": interval,
                       "evaluation_interval": interval},
            "scrape_configs": [job]}


class QueryEngine:
    """A private query engine: free loopback port, temp config and data."""

    name = ""
    binary_name = ""
    ready_path = ""

    def __init__(self, workdir: Path, targets: list[str],
                 interval: str = "1s", blind: tuple[str, ...] = ()) -> None:
        self.binary = _needs(self.binary_name)
        self.workdir = workdir / self.name
        self.workdir.mkdir(exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = self.workdir / "scrape.yml"
        self.config.write_text(json.dumps(
            scrape_config(targets, interval, list(blind))))
        self.log = self.workdir / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> None:
        with open(self.log, "wb") as log:
            # Ended with the test process, even one killed outright: a
            # server left running would hold its port and directory.
            self.process = subprocess.Popen(
                ["setpriv", "--pdeathsig", "TERM", "--", *self.command()],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        wait_for(lambda: self._ready(), timeout, f"{self.name} ready")

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited: {self.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}{self.ready_path}",
                                        timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            return False

    def query(self, promql: str) -> list[dict[str, Any]]:
        # nocache: VictoriaMetrics otherwise hides the last 30 s.
        query = urllib.parse.urlencode({"query": promql, "nocache": "1"})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{query}",
                                    timeout=10) as page:
            return list(json.load(page)["data"]["result"])

    def wait_for_targets(self, count: int, timeout: float = 30.0) -> None:
        """Until ``count`` targets have been scraped (discovery takes ~5 s)."""

        def scraped() -> bool:
            return len(self.query("up == 1")) == count

        wait_for(scraped, timeout, f"{count} targets up in {self.name}")

    def wait_for_count(self, expected: int, timeout: float = 30.0) -> None:
        """Until the engine holds ``expected`` requests in the last scrapes."""
        promql = "sum(openstack_api_request_duration_seconds_count)"

        def scraped() -> bool:
            result = self.query(promql)
            return bool(result) and float(result[0]["value"][1]) == expected

        wait_for(scraped, timeout, f"{expected} requests in {self.name}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class PrometheusServer(QueryEngine):
    name = "prometheus"
    binary_name = "prometheus"
    ready_path = "/-/ready"

    def command(self) -> list[str]:
        return [self.binary, f"--config.file={self.config}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--enable-feature=exemplar-storage", "--log.level=warn"]


class VictoriaMetricsServer(QueryEngine):
    """Single-node VictoriaMetrics scraping with the Prometheus config."""

    name = "victoriametrics"
    binary_name = "victoria-metrics"
    ready_path = "/health"

    def command(self) -> list[str]:
        return [self.binary, f"-promscrape.config={self.config}",
                f"-storageDataPath={self.workdir / 'data'}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                # The Prometheus file as is: skip fields VM has no use for.
                "-promscrape.config.strictParse=false", "-loggerLevel=ERROR"]


ENGINES: tuple[type[QueryEngine], ...] = (PrometheusServer,
                                          VictoriaMetricsServer)


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("report")


@dataclasses.dataclass
class Deployment:
    """Collectors fed by the filter, scraped by every query engine."""

    engines: dict[str, QueryEngine]
    collectors: list[CollectorProcess]
    traffic: Traffic
    start: float
    end: float

    @property
    def prometheus(self) -> QueryEngine:
        return self.engines["prometheus"]


ONE_HOST_PLAN = {"show": 60, "missing": 15, "detail": 25, "create": 20,
                 "bad": 8, "crash": 3, "flavor": 30}


ROUNDS = 3


def _share(count: int, plan_round: int) -> int:
    """Round ``plan_round``'s part of ``count``; the rounds add up to it."""
    return (count * (plan_round + 1)) // ROUNDS - (count * plan_round) // ROUNDS


class _Stack:
    """Collectors and engines started for one deployment, stopped together."""

    def __init__(self, workdir: Path, hosts: int) -> None:
        self.workdir = workdir
        self.collectors = [CollectorProcess(workdir=workdir / f"host{n}")
                           for n in range(hosts)]
        for collector in self.collectors:
            collector.workdir.mkdir()
        self.engines: dict[str, QueryEngine] = {}

    def start_engines(self, up: int, blind: tuple[str, ...] = ()) -> None:
        targets = [f"127.0.0.1:{c.port}" for c in self.collectors]
        for kind in ENGINES:
            engine = kind(self.workdir, targets, blind=blind)
            self.engines[engine.name] = engine
            engine.start()
        for engine in self.engines.values():
            engine.wait_for_targets(up)

    def wait_for_count(self, expected: int) -> None:
        for engine in self.engines.values():
            engine.wait_for_count(expected)

    def stop(self) -> None:
        for engine in self.engines.values():
            engine.stop()
        for collector in self.collectors:
            collector.stop()


def _deploy(workdir: Path, plans: list[dict[str, int]],
            blind_hosts: int = 0) -> Iterator[Deployment]:
    """Collectors serving ``plans``; the last ``blind_hosts`` are scraped
    without process_start_time_seconds."""
    stack = _Stack(workdir, len(plans))
    try:
        for collector in stack.collectors:
            collector.start()
        blind = stack.collectors[len(plans) - blind_hosts:]
        stack.start_engines(
            len(plans), tuple(f"127.0.0.1:{c.port}" for c in blind))
        start = time.time() - 1
        traffic = Traffic()
        # Rounds a few scrapes apart, so the graphs see requests arrive.
        for plan_round in range(ROUNDS):
            for collector, plan in zip(stack.collectors, plans, strict=True):
                share = {name: _share(count, plan_round)
                         for name, count in plan.items()}
                traffic = traffic.add(
                    send_traffic(collector.socket_path, share))
            time.sleep(1.5)
        stack.wait_for_count(sum(traffic.requests.values()))
        yield Deployment(stack.engines, stack.collectors, traffic, start,
                         time.time())
    finally:
        stack.stop()


def _count(plan: dict[str, int]) -> int:
    return sum(plan.values())


BEFORE_RANGE = {"show": 7, "detail": 4}
BEFORE_RESTART = {"show": 20, "detail": 10, "missing": 3}
AFTER_RESTART = ({"show": 10, "create": 6}, {"show": 5, "flavor": 9})
FAST = {"versions": 40}


def _restarts(workdir: Path) -> Iterator[Deployment]:
    """Host 0 serves before the range and restarts inside it; host 1 is
    born inside it; routes appear on both after the restart."""
    stack = _Stack(workdir, 2)
    first, second = stack.collectors
    try:
        first.start()
        stack.start_engines(1)
        send_traffic(first.socket_path, BEFORE_RANGE)
        stack.wait_for_count(_count(BEFORE_RANGE))
        time.sleep(1.5)  # the range starts after a scrape of these
        start = time.time()
        traffic = send_traffic(first.socket_path, BEFORE_RESTART)
        stack.wait_for_count(_count(BEFORE_RANGE) + _count(BEFORE_RESTART))
        first.stop()
        first.start()
        second.start()
        for collector, plan in zip(stack.collectors, AFTER_RESTART,
                                   strict=True):
            traffic = traffic.add(send_traffic(collector.socket_path, plan))
        traffic = traffic.add(send_traffic(second.socket_path, FAST, 1))
        for engine in stack.engines.values():
            engine.wait_for_targets(2)
        stack.wait_for_count(sum(map(_count, AFTER_RESTART)) + _count(FAST))
        yield Deployment(stack.engines, stack.collectors, traffic, start,
                         time.time())
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def one_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield from _deploy(tmp_path_factory.mktemp("one-host"), [ONE_HOST_PLAN])


@pytest.fixture(scope="module")
def two_hosts(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    plans = [{"show": 40, "detail": 10, "crash": 2},
             {"show": 25, "create": 12, "bad": 5}]
    yield from _deploy(tmp_path_factory.mktemp("two-hosts"), plans,
                       blind_hosts=1)


@pytest.fixture(scope="module")
def restarted(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    yield from _restarts(tmp_path_factory.mktemp("restarted"))


def screenshot(page: Path, png: Path, workdir: Path) -> None:
    """Render ``page`` in headless Chromium and save a PNG of it."""
    chromium = _needs("chromium")
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         f"--user-data-dir={workdir / 'chromium-profile'}",
         f"--screenshot={png}", "--window-size=1400,2000",
         "--hide-scrollbars", page.as_uri()],
        check=True, capture_output=True, timeout=90,
    )


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows of an 8-bit RGB or RGBA PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks, header = 8, [], b""
    while offset < len(data):
        length = int.from_bytes(data[offset:offset + 4], "big")
        kind = data[offset + 4:offset + 8]
        body = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        offset += 12 + length
    width, height = (int.from_bytes(header[i:i + 4], "big") for i in (0, 4))
    depth, color = header[8], header[9]
    assert depth == 8 and color in (2, 6), (depth, color)
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    return width, height, _unfilter(raw, width, height, channels)


def _unfilter(raw: bytes, width: int, height: int,
              channels: int) -> list[bytes]:
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            line[x] = (line[x] + _predict(kind, left, up, corner)) & 0xFF
        rows.append(bytes(
            b for i, b in enumerate(line) if channels == 3 or i % 4 != 3))
        previous = line
    return rows


def _predict(kind: int, left: int, up: int, corner: int) -> int:
    if kind == 0:
        return 0
    if kind == 1:
        return left
    if kind == 2:
        return up
    if kind == 3:
        return (left + up) // 2
    estimate = left + up - corner
    distances = (abs(estimate - left), abs(estimate - up),
                 abs(estimate - corner))
    return (left, up, corner)[distances.index(min(distances))]
