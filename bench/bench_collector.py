"""How many request rows one collector process ingests per second.

Sends batch datagrams (200 rows, 20 routes) to a real collector as fast as
its socket takes them and polls /metrics until every row is counted.

    .venv/bin/python bench/bench_collector.py [--datagrams N]
"""

from __future__ import annotations

import argparse
import socket
import time

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector.process import CollectorProcess

COUNT = "openstack_api_request_duration_seconds_count"


def _counted(text: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(COUNT)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datagrams", type=int, default=500)
    args = parser.parse_args()
    rows: list[protocol.Sample] = [
        ("compute", "GET", f"/v2.1/servers/{{id}}/r{n % 20}", 200, 0.01, 0, 100, None)
        for n in range(200)
    ]
    [(datagram, per_datagram)] = protocol.split_for_datagrams(rows)
    total = args.datagrams * per_datagram
    with CollectorProcess() as collector:
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        started = time.perf_counter()
        for _ in range(args.datagrams):
            sender.sendto(datagram, str(collector.socket_path))
        while _counted(collector.scrape()) < total:
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
    print(f"{total} rows in {elapsed:.2f} s: {total / elapsed:,.0f} rows/s")


if __name__ == "__main__":
    main()
