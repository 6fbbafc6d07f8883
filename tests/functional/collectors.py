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

"""Talk to a real collector process: datagrams in, exact counts out."""

from __future__ import annotations

from collections.abc import Sequence
import gzip
import json
import os
from pathlib import Path
import socket
import subprocess
import sys
from typing import Any
import urllib.parse
import urllib.request

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as om_parser,
)
from prometheus_client.parser import text_string_to_metric_families as text_parser

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector.process import COLLECTOR
from oslo_metrics_middleware.collector.process import PROMETHEUS_ACCEPT
from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import servers

PROG = "oslo-metrics-middleware collector"
REJECTED = "oslo_metrics_collector_rejected_total"
OVERFLOW = "oslo_metrics_collector_overflow_total"
DATAGRAMS = "oslo_metrics_collector_datagrams_total"
ROWS = "oslo_metrics_collector_rows_total"
DURATION_COUNT = f"{servers.DURATION}_count"
# Generous: the machine may be loaded; nothing here waits this long when
# the collector does what it should.
WAIT = 20.0


def row(
    route: str = "/v2.1/servers/{id}",
    status: Any = 200,
    duration: Any = 0.01,
    service: Any = "compute",
    method: Any = "GET",
    request_bytes: Any = 0,
    response_bytes: Any = 100,
    exception: Any = None,
) -> list[Any]:
    """One request row as the filter sends it."""
    return [service, method, route, status, duration, request_bytes,
            response_bytes, exception]


def batch(rows: Sequence[Sequence[Any]]) -> bytes:
    """One batch datagram, in the filter's own encoding."""
    return protocol.encode_batch([protocol.sample(*item) for item in rows])


def message(module: str, name: str, action: str, value: Any,
            labels: dict[str, Any]) -> bytes:
    """One plain oslo.metrics message."""
    return json.dumps({"module": module, "name": name, "labels": labels,
                       "action": {"action": action, "value": value}}).encode()


def send(path: Path, *datagrams: bytes) -> None:
    """Send ``datagrams`` in order, blocking while the collector is busy."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        for datagram in datagrams:
            sender.sendto(datagram, str(path))


def wait_datagrams(collector: CollectorProcess, count: int) -> servers.Series:
    """Scrape until the collector has read ``count`` datagrams in all."""
    return servers.wait_for(
        collector, lambda s: servers.value(s, DATAGRAMS) >= count, timeout=WAIT
    )


def refused(collector: CollectorProcess) -> list[str]:
    """Run a collector expected to refuse to start: its output lines.

    Asserts the exit status and that nothing but one error line was said.
    """
    process = collector.launch()
    try:
        process.wait(WAIT)
    finally:
        collector.stop()  # a collector that did not refuse is not left behind
    output = collector.log().splitlines()
    assert process.returncode == 1, output
    assert len(output) == 1, output
    assert output[0].startswith(f"{PROG}: error: "), output
    return output


def error(collector: CollectorProcess) -> str:
    """The one error line of a collector that refused to start."""
    return refused(collector)[0].removeprefix(f"{PROG}: error: ")


# Root reads any file: file-permission cases run as nobody, without the
# capabilities that would let root's children through.
AS_NOBODY = (
    ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
     "--inh-caps=-all", "--bounding-set=-all"]
    if os.geteuid() == 0 else []
)


def run_with_config(
    config: Path, *args: str, unprivileged: bool = False
) -> subprocess.CompletedProcess[str]:
    """The collector on an arbitrary configuration file."""
    prefix = AS_NOBODY if unprivileged else []
    return subprocess.run(
        [*prefix, sys.executable, *COLLECTOR, "--config-file", str(config), *args],
        capture_output=True, text=True, timeout=WAIT, stdin=subprocess.DEVNULL,
    )


OPENMETRICS_ACCEPT = "application/openmetrics-text;version=1.0.0"
# Every way /metrics answers: format, compression and a name[] selection.
SCRAPES: dict[str, tuple[str, str]] = {
    "text": ("", ""),
    "text+gzip": ("", "gzip"),
    "openmetrics": (OPENMETRICS_ACCEPT, ""),
    "openmetrics+gzip": (PROMETHEUS_ACCEPT, "gzip"),
    "text name[]": ("", ""),
    "openmetrics name[]": (OPENMETRICS_ACCEPT, "gzip"),
}
# The families a name[] selection asks for: a histogram and a counter.
SELECTED = (f"{servers.DURATION}_bucket", REJECTED)


def parse_every_format(collector: CollectorProcess) -> dict[str, list[Any]]:
    """Each way of scraping /metrics, parsed by prometheus_client's parser
    of its format; any status but 200 or any parse error fails."""
    pages = {}
    for way, (accept, encoding) in SCRAPES.items():
        query = ""
        if way.endswith("name[]"):
            query = "?" + urllib.parse.urlencode([("name[]", n) for n in SELECTED])
        request = urllib.request.Request(
            collector.metrics_url + query,
            headers={"Accept": accept, "Accept-Encoding": encoding},
        )
        with urllib.request.urlopen(request, timeout=WAIT) as page:
            assert page.status == 200, way
            body = page.read()
            if page.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            openmetrics = page.headers["Content-Type"].startswith(
                "application/openmetrics-text"
            )
        text = body.decode("utf-8")
        parse = om_parser if openmetrics else text_parser
        assert openmetrics == way.startswith("openmetrics"), way
        pages[way] = list(parse(text))
    return pages
