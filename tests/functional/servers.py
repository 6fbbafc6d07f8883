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

"""Launch real WSGI servers, talk HTTP to them and read the collector."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
import concurrent.futures
import contextlib
import http.client
import json
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import threading
import time
from types import TracebackType
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector.process import CollectorProcess
from oslo_metrics_middleware.collector.process import free_port
from tests.functional import apps

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
APPS = "tests.functional.apps"
APPLICATION = f"{APPS}.paste_app:application"

DURATION = "openstack_api_request_duration_seconds"
DROPPED = "openstack_api_metrics_dropped_samples_total"
SERVER = "00000000-0000-0000-0000-000000000001"
SERVER_PATH = f"/v2.1/servers/{SERVER}"
SERVER_ROUTE = "/v2.1/servers/{id}"


class ServerError(RuntimeError):
    """A server did not start or stop as expected."""


class ServerProcess:
    """A WSGI server command run as a child process in its own session.

    The whole process group is signalled on stop, so pre-fork workers go
    with their master.  Output goes to a log file under ``workdir``.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        port: int,
        workdir: Path,
        env: Mapping[str, str],
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.port = port
        self.stop_signal = stop_signal
        self.log_path = workdir / f"{name}-{port}.log"
        self.env = {**os.environ, **env}
        self.env["PYTHONPATH"] = os.pathsep.join(
            filter(None, (str(REPO), os.environ.get("PYTHONPATH")))
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"{self.name} exited with {self.process.returncode}:\n"
                    + self.log()
                )
            try:
                # Not measured: /healthcheck is excluded by default.
                request("GET", "/healthcheck", self.port, timeout=2.0)
            except OSError:
                time.sleep(0.05)
                continue
            return
        self.stop()
        raise ServerError(f"{self.name} not ready in {timeout:.0f} s")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """Signal the process group; SIGKILL whatever is left after it."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            _signal_group(process.pid, self.stop_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
        # Workers may outlive a master that has exited.
        _signal_group(process.pid, signal.SIGKILL)
        if process.poll() is None:
            process.wait(timeout)

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def server_env(
    socket_path: Path,
    buffer_size: int = 10000,
    flush_interval: float = 0.05,
    exit_grace: float = 3.0,
    batch_format: int | None = None,
) -> dict[str, str]:
    """The environment that configures tests.functional.apps.paste_app."""
    env = {
        apps.SOCKET_ENV: str(socket_path),
        apps.BUFFER_SIZE_ENV: str(buffer_size),
        apps.FLUSH_INTERVAL_ENV: str(flush_interval),
        apps.EXIT_GRACE_ENV: str(exit_grace),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if batch_format is not None:
        env[apps.BATCH_FORMAT_ENV] = str(batch_format)
    return env


def python_server(
    script: str,
    workdir: Path,
    env: Mapping[str, str],
    *args: str,
) -> ServerProcess:
    """One of the server scripts in tests/functional/apps."""
    port = free_port()
    return ServerProcess(
        script,
        [sys.executable, "-m", f"{APPS}.{script}", str(port), *args],
        port,
        workdir,
        env,
    )


def gunicorn_server(
    workdir: Path,
    env: Mapping[str, str],
    workers: int = 2,
    app: str = APPLICATION,
    extra: Sequence[str] = (),
    preload: bool = True,
) -> ServerProcess:
    """gunicorn, sync workers unless ``extra`` says otherwise, the app
    preloaded in the master unless ``preload`` is false."""
    port = free_port()
    return ServerProcess(
        "gunicorn",
        [
            str(VENV_BIN / "gunicorn"),
            *(("--preload",) if preload else ()),
            "--workers", str(workers),
            "--worker-class", "sync",
            "--bind", f"127.0.0.1:{port}",
            "--graceful-timeout", "5",
            "--chdir", str(REPO),
            *extra,
            app,
        ],
        port,
        workdir,
        env,
    )


def uwsgi_server(
    workdir: Path,
    env: Mapping[str, str],
    processes: int = 2,
    app: str = APPLICATION,
    extra: Sequence[str] = (),
) -> ServerProcess:
    """uWSGI pre-fork, app loaded in the master, no Python threads."""
    port = free_port()
    return ServerProcess(
        "uwsgi",
        [
            str(VENV_BIN / "uwsgi"),
            "--master",
            "--processes", str(processes),
            "--http-socket", f"127.0.0.1:{port}",
            "--home", str(Path(sys.prefix)),
            "--chdir", str(REPO),
            "--module", app,
            "--need-app",
            "--die-on-term",
            "--disable-logging",
            *extra,
        ],
        port,
        workdir,
        env,
        stop_signal=signal.SIGINT,
    )


APACHE = Path("/usr/sbin/apache2")
APACHE_MODULES = Path("/usr/lib/apache2/modules")
# Debian's mod_wsgi embeds the system python3; the venv is built from it.
SITE_PACKAGES = next(Path(sys.prefix, "lib").glob("python3*/site-packages"))

APACHE_HEAD = """\
ServerRoot {workdir}
ServerName localhost
Listen 127.0.0.1:{port}
PidFile {workdir}/apache.pid
DefaultRuntimeDir {workdir}
ErrorLog {workdir}/apache-error.log
LogLevel warn
{user}
{modules}
WSGISocketPrefix {workdir}/wsgi
"""

APACHE_SITE = """\
WSGIDaemonProcess api processes=1 threads=4 python-path={repo}:{site}
WSGIProcessGroup api
WSGIApplicationGroup %{{GLOBAL}}
WSGIChunkedRequest On
WSGIScriptAlias / {workdir}/api.wsgi
<Directory {workdir}>
    Require all granted
</Directory>
"""


def apache_head(
    workdir: Path, port: int, modules: Sequence[str] = ()
) -> str:
    """The server part of an Apache configuration: mod_wsgi, the event
    MPM and ``modules``, run as nobody when started as root."""
    loaded = ("mpm_event", "authz_core", *modules, "wsgi")
    return APACHE_HEAD.format(
        workdir=workdir,
        port=port,
        user="User nobody\nGroup nogroup" if os.getuid() == 0 else "",
        modules="\n".join(
            f"LoadModule {name}_module {APACHE_MODULES}/mod_{name}.so"
            for name in loaded
        ),
    )


APACHE_SCRIPT = """\
import os
os.environ.update({env!r})
from {module} import {name} as application
"""


def apache_server(
    workdir: Path, env: Mapping[str, str], app: str = APPLICATION
) -> ServerProcess:
    """Apache with mod_wsgi in daemon mode, as distributions deploy APIs.

    ``workdir`` must be readable by the unprivileged user Apache switches
    to when started as root.
    """
    port = free_port()
    module, name = app.split(":")
    (workdir / "api.wsgi").write_text(
        APACHE_SCRIPT.format(env=dict(env), module=module, name=name)
    )
    conf = workdir / "apache.conf"
    conf.write_text(apache_head(workdir, port) + APACHE_SITE.format(
        workdir=workdir, repo=REPO, site=SITE_PACKAGES,
    ))
    return ServerProcess(
        "apache",
        [str(APACHE), "-f", str(conf), "-DFOREGROUND"],
        port,
        workdir,
        env,
    )


# -- HTTP ---------------------------------------------------------------


def request(
    method: str,
    path: str,
    port: int,
    body: bytes | Iterable[bytes] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: status, headers, body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(
            method, path, body=body, headers=dict(headers or {}),
            encode_chunked=body is not None and not isinstance(body, bytes),
        )
        response = connection.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), data
    finally:
        connection.close()


def get_server(port: int) -> tuple[int, dict[str, str], bytes]:
    return request("GET", SERVER_PATH, port)


def run_parallel(
    call: Callable[[], tuple[int, dict[str, str], bytes]],
    count: int,
    concurrency: int,
) -> list[tuple[int, dict[str, str], bytes]]:
    """``call`` ``count`` times from ``concurrency`` client threads."""
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(call) for _ in range(count)]
        return [future.result(timeout=60) for future in futures]


# -- the collector ------------------------------------------------------

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]
# The API metrics, and the collector's account of what it received.
FAMILIES = ("openstack_api_", "oslo_metrics_collector_")


def scrape(collector: CollectorProcess) -> Series:
    """The API and collector-health samples of /metrics, by name and labels."""
    series: Series = {}
    for family in text_string_to_metric_families(collector.scrape()):
        if not family.name.startswith(FAMILIES):
            continue  # the daemon's own process metrics change by themselves
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            series[key] = float(sample.value)
    return series


def value(series: Series, name: str, **labels: str) -> float:
    """The value of one series; 0 when the collector has not seen it."""
    return series.get((name, frozenset(labels.items())), 0.0)


def total(series: Series, name: str, **labels: str) -> float:
    """The sum of every series of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(
        amount
        for (sample_name, sample_labels), amount in series.items()
        if sample_name == name and wanted <= sample_labels
    )


def requests_counted(series: Series, **labels: str) -> float:
    """Requests the collector counted, over all routes unless narrowed."""
    return total(series, f"{DURATION}_count", **labels)


def requests_by(series: Series, *names: str) -> Counter[tuple[Any, ...]]:
    """Requests the collector counted, by the values of the labels
    ``names`` (``status`` as an int); label sets with none are left out."""
    found: Counter[tuple[Any, ...]] = Counter()
    for (name, labels), amount in series.items():
        if name == f"{DURATION}_count" and amount:
            label = dict(labels)
            key = tuple(
                int(label[each]) if each == "status" else label[each]
                for each in names
            )
            found[key] += int(amount)
    return found


def wait_for(
    collector: CollectorProcess,
    predicate: Callable[[Series], bool],
    timeout: float,
    interval: float = 0.05,
) -> Series:
    """Scrape until ``predicate`` holds; the last scrape either way.

    A scrape is no snapshot: rows recorded while it runs can be missing from
    the families written before the one the predicate reads.  So once the
    predicate holds, a scrape started afterwards is returned (if it holds
    there too), which has every row recorded before the predicate was seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        series = scrape(collector)
        if predicate(series):
            after = scrape(collector)
            return after if predicate(after) else series
        if time.monotonic() >= deadline:
            return series
        time.sleep(interval)


def settle(
    collector: CollectorProcess, quiet: float = 0.5, timeout: float = 10.0
) -> Series:
    """Scrape until nothing has changed for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    last = scrape(collector)
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        series = scrape(collector)
        if series != last:
            last, stable_since = series, time.monotonic()
        elif time.monotonic() - stable_since >= quiet:
            break
    return last


class DatagramCollector:
    """Stands in for the collector: keeps the rows and drop counts sent.

    With a ``pause`` after each datagram it plays a collector that is
    behind for the whole run.
    """

    def __init__(self, path: Path, pause: float = 0.0) -> None:
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(path))
        os.chmod(path, 0o777)  # workers may run unprivileged
        self.socket.settimeout(0.2)
        self.pause = pause
        self.rows: list[list[Any]] = []
        self.dropped: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                message: dict[str, Any] = json.loads(self.socket.recv(65536))
            except TimeoutError:
                continue
            if message["name"] == "batch":
                self.rows.extend(protocol.rows_of(message["action"]["value"]))
            elif message["name"] == DROPPED:
                reason = message["labels"]["reason"]
                self.dropped[reason] += message["action"]["value"]
            time.sleep(self.pause)

    @property
    def accounted(self) -> int:
        """Requests delivered or counted as dropped."""
        return len(self.rows) + sum(self.dropped.values())

    def wait(self, count: int, timeout: float = 15.0) -> int:
        """Wait until ``count`` requests are accounted for; how many are."""
        deadline = time.monotonic() + timeout
        while self.accounted < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.accounted

    def __enter__(self) -> DatagramCollector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # Whatever is still queued in the kernel is read before stopping.
        self.pause = 0
        deadline = time.monotonic() + 10
        while self._pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stop.set()
        self._thread.join(10)
        self.socket.close()

    def _pending(self) -> bool:
        try:
            self.socket.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, TimeoutError):
            return False
        return True


class Traffic:
    """Sequential requests from client threads until stopped.

    Every request's start time and outcome is kept, so a test can tell
    which requests began after some event.
    """

    def __init__(
        self,
        call: Callable[[], tuple[int, dict[str, str], bytes]],
        clients: int = 1,
    ) -> None:
        self._call = call
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.started: list[float] = []
        self.statuses: list[int] = []
        self.failures: list[str] = []
        self._threads = [
            threading.Thread(target=self._run, daemon=True)
            for _ in range(clients)
        ]

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                status, _, _ = self._call()
            except Exception as exc:  # recorded; the test asserts none
                with self._lock:
                    self.failures.append(repr(exc))
                continue
            with self._lock:
                self.started.append(began)
                self.statuses.append(status)

    @property
    def sent(self) -> int:
        """Requests answered so far."""
        with self._lock:
            return len(self.statuses)

    def started_after(self, moment: float) -> int:
        """Answered requests that began after ``moment``."""
        with self._lock:
            return sum(1 for began in self.started if began > moment)

    def wait_sent(self, count: int, timeout: float = 20.0) -> None:
        """Wait until ``count`` requests have been answered."""
        deadline = time.monotonic() + timeout
        while self.sent < count:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"only {self.sent} of {count} requests")
            time.sleep(0.01)

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
