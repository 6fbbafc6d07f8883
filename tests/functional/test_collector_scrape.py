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

"""A scrape being written never stops the collector reading its socket."""

from __future__ import annotations

from pathlib import Path
import socket
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import collectors
from tests.functional import servers

# Label values of 64 four-byte characters (256 UTF-8 bytes), the longest
# kept: a page of tens of MB from a few hundred label sets.
ROUTES = 400
PACED = 150


def _long(kind: int, number: int) -> str:
    return "".join(chr(0x1F300 + 16 * kind + int(d)) for d in f"{number:064d}")


def _fill(collector: CollectorProcess) -> int:
    rows = [
        protocol.sample(_long(0, 0), _long(1, 0), _long(2, route), 200, 0.01,
                        10, 100, request_id=f"req-{route:060d}")
        for route in range(ROUTES)
    ]
    datagrams = [datagram for datagram, _ in protocol.split_for_datagrams(rows)]
    collectors.send(collector.socket_path, *datagrams)
    collectors.wait_datagrams(collector, len(datagrams))
    return len(datagrams)


def _start_slow_scrape(collector: CollectorProcess) -> tuple[socket.socket, bytes]:
    """A client that asks for the page, takes its first bytes and stops
    reading, so the collector's writing thread waits on it mid-page."""
    client = socket.create_connection(("127.0.0.1", collector.port))
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    client.sendall(
        b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
        b"Accept: " + collectors.OPENMETRICS_ACCEPT.encode() + b"\r\n\r\n"
    )
    first = client.recv(64 * 1024)
    assert first.startswith(b"HTTP/1.0 200 OK"), first[:100]
    return client, first


def _counted(collector: CollectorProcess, datagrams: int) -> tuple[float, float]:
    """Datagrams read and requests counted on /paced, from a small
    selection of the page, once ``datagrams`` were read."""
    query = (f"?name[]={collectors.DATAGRAMS}"
             f"&name[]={servers.DURATION}_count")
    deadline = time.monotonic() + collectors.WAIT
    while True:
        with urllib.request.urlopen(collector.metrics_url + query,
                                    timeout=collectors.WAIT) as page:
            text = page.read().decode()
        samples = [s for family in text_string_to_metric_families(text)
                   for s in family.samples]
        read = sum(s.value for s in samples if s.name == collectors.DATAGRAMS)
        paced = sum(s.value for s in samples
                    if s.labels.get("route") == "/paced")
        if read >= datagrams or time.monotonic() > deadline:
            return read, paced
        time.sleep(0.05)


def _paced_sends(path: Path, count: int, interval: float) -> int:
    """Send ``count`` datagrams ``interval`` apart without ever blocking;
    how many found the collector's queue full."""
    datagram = collectors.batch([collectors.row(route="/paced")])
    full = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for _ in range(count):
            try:
                sender.sendto(datagram, str(path))
            except BlockingIOError:
                full += 1
            time.sleep(interval)
    return full


def test_datagrams_are_read_while_a_slow_client_takes_a_big_page(
    tmp_path: Path,
) -> None:
    with CollectorProcess(workdir=tmp_path) as collector:
        filled = _fill(collector)
        client, first = _start_slow_scrape(collector)
        with client:
            # 10 ms apart: the queue (10 datagrams by default) overflows only
            # if the receive loop stops reading for about 100 ms.
            full = _paced_sends(collector.socket_path, PACED, 0.01)
            read, paced = _counted(collector, filled + PACED - full)
            # The first page is still being written: its end is still to come.
            rest = b""
            while chunk := client.recv(1 << 20):
                rest += chunk
    assert full == 0
    assert (read, paced) == (filled + PACED, PACED)
    page = first + rest
    # Far more than socket buffers hold was still to come.
    assert len(rest) > 10 * 1024 * 1024
    assert page.endswith(b"\n# EOF\n")
    count = b"openstack_api_request_duration_seconds_count{"
    # The paced rows may be on the page too, as the page is written live.
    paced_count = count + b'method="GET",route="/paced"'
    assert page.count(count) - page.count(paced_count) == ROUTES


def test_clients_that_take_their_answer_too_slowly_make_room(
    tmp_path: Path,
) -> None:
    options = {"http_max_connections": 2, "http_timeout": 1}
    with CollectorProcess(workdir=tmp_path, options=options) as collector:
        _fill(collector)
        slow = [_start_slow_scrape(collector)[0] for _ in range(2)]
        try:
            # Both connections are taken, by clients past their time.
            time.sleep(1.5)
            _counted(collector, 0)
        finally:
            for client in slow:
                client.close()
