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

"""Start and stop a collector process on a private socket and port."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import gzip
import os
from pathlib import Path
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from types import TracebackType
import urllib.error
import urllib.request


class CollectorError(RuntimeError):
    """The collector did not start or answer."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


# The collector, or the upstream daemon with this project's metrics loaded.
COLLECTOR = ("-m", "oslo_metrics_middleware.cmd", "collector")
STOCK_DAEMON = ("-m", "oslo_metrics_middleware.collector.stock")
# The Accept header of a Prometheus 2 scrape.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def write_config(
    path: Path,
    socket_path: Path,
    host: str,
    port: int,
    collector: Mapping[str, object] | None = None,
) -> None:
    """A configuration file: [oslo_metrics], and [collector] if given."""
    text = (
        "[oslo_metrics]\n"
        f"metrics_socket_file = {socket_path}\n"
        f"prometheus_host = {host}\n"
        f"prometheus_port = {port}\n"
    )
    if collector:
        text += "[collector]\n" + "".join(
            f"{name} = {value}\n" for name, value in collector.items()
        )
    path.write_text(text)


class CollectorProcess:
    """``oslo-metrics-middleware collector`` as a child process.

    Used as a context manager it leaves no process, socket or file behind.
    """

    def __init__(
        self,
        workdir: Path | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        socket_path: Path | None = None,
        options: Mapping[str, object] | None = None,
        command: Sequence[str] = COLLECTOR,
        env: Mapping[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
        run_as: Sequence[str] = (),
        python: str = "",
    ) -> None:
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="metrics-")
            workdir = Path(self._tempdir.name)
        self.workdir = workdir
        self.host = host
        self.port = port or free_port(host)
        self.socket_path = socket_path or workdir / "metrics.sock"
        self.config_path = workdir / f"collector-{self.port}.conf"
        self.log_path = workdir / f"collector-{self.port}.log"
        self.options = dict(options or {})
        self.command = tuple(command)
        self.env = dict(env) if env is not None else None
        # A prefix such as setpriv's that runs it as another user.
        self.run_as = tuple(run_as)
        # The interpreter, when another user cannot run this one.
        self.python = python or sys.executable
        self.process: subprocess.Popen[bytes] | None = None
        # How to reach /metrics served over TLS (web_config_file).
        self.tls = tls

    @property
    def metrics_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{host}:{self.port}/metrics"

    def start(self, timeout: float = 30.0) -> None:
        """Start it and wait until its socket and /metrics answer."""
        self.launch()
        self._wait_ready(timeout)

    def launch(self) -> subprocess.Popen[bytes]:
        """Start it without waiting; output goes to ``log_path``."""
        write_config(
            self.config_path, self.socket_path, self.host, self.port, self.options
        )
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*self.run_as, self.python, *self.command,
                 "--config-file", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
            )
        return self.process

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise CollectorError(
                    f"collector exited with {self.process.returncode}; "
                    f"see {self.log_path}"
                )
            if self.socket_path.exists():
                try:
                    self.scrape()
                    return
                except urllib.error.HTTPError:
                    return  # it answers, if only to ask for credentials
                except OSError:
                    pass
            time.sleep(0.05)
        raise CollectorError(f"collector not ready after {timeout:.0f} s")

    def scrape(self) -> str:
        """The collector's /metrics page."""
        with urllib.request.urlopen(  # noqa: S310
            self.metrics_url, timeout=10, context=self.tls
        ) as page:
            return str(page.read().decode())

    def scrape_as_prometheus(self, timeout: float = 10) -> tuple[bytes, str]:
        """The /metrics page as Prometheus asks for it (OpenMetrics,
        gzip), uncompressed, and its content type."""
        headers = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
        request = urllib.request.Request(self.metrics_url, headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=timeout) as page:  # noqa: S310
            body = page.read()
            if page.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            return body, str(page.headers["Content-Type"])

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it lingers.

        The socket file of a killed process is removed; one that stopped
        cleanly removed its own, and one that refused to start must not
        take another collector's.
        """
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.returncode == -signal.SIGKILL and self.socket_path.is_socket():
            os.unlink(self.socket_path)

    def __enter__(self) -> CollectorProcess:
        try:
            self.start()
        except BaseException:
            # Ctrl-C or a failed start: leave nothing behind either way.
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if self._tempdir is not None:
            self._tempdir.cleanup()
