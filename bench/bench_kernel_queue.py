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

"""How many samples a collector killed with SIGKILL can take with it.

A sample counts as delivered once ``sendto`` accepts its datagram; it then
waits in the kernel queue of the collector's socket until the collector
reads it.  A collector killed with SIGKILL loses what is queued there, and
no sender can see that.  This measures the most that queue holds: a socket
that never reads stands in for a collector that stopped reading, and the
sender sends until the kernel refuses (EAGAIN).  Run for datagrams of one
sample (a quiet API, flushed each interval) and of full batches (a busy
one).

    .venv/bin/python bench/bench_kernel_queue.py
"""

from __future__ import annotations

from pathlib import Path
import socket
import tempfile

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware import transport

SAMPLE = protocol.sample(
    "compute", "GET", "/v2.1/servers/{id}/os-interface/{id}", 200, 0.0123, 0, 812
)


def queued(batch: int) -> tuple[int, int]:
    """Samples and datagrams the kernel holds for a reader that never reads."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, "collector.sock")
        reader = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        reader.bind(str(path))
        sender = transport.DatagramSender(str(path), 10**6, 60.0)
        sender._start_thread = lambda: None  # type: ignore[method-assign]
        datagrams = 0
        while sender.held == 0:
            for _ in range(batch):
                sender.submit(SAMPLE, 0)
            sender.flush()
            datagrams += 1
        reader.close()
        return sender.delivered, datagrams - 1


def main() -> None:
    with open("/proc/sys/net/unix/max_dgram_qlen") as qlen:
        print(f"net.unix.max_dgram_qlen = {qlen.read().strip()}")
    for batch in (1, transport.ROWS_PER_DATAGRAM):
        samples, datagrams = queued(batch)
        print(
            f"{batch:>3} samples a datagram: {datagrams} datagrams, "
            f"{samples} samples queued in the kernel"
        )


if __name__ == "__main__":
    main()
