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

"""A process that serves requests through the filter, then leaves.

Usage: ``SOCKET COUNT HOW [GRACE]``, HOW one of:

- ``exit``: returns from main, so the interpreter exits normally;
- ``os_exit``: a forked child serves, calls ``oslo_metrics_middleware.flush()``
  and leaves with ``os._exit``;
- ``multiprocessing``: a ``multiprocessing`` (fork) child serves and returns,
  which ends it with ``os._exit`` too, without any call of ours.

Each request goes to its own route, like a busy API whose collector falls
behind.  The filter's log goes to stderr.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
import logging
import multiprocessing
import os
from typing import Any

import oslo_metrics_middleware
from oslo_metrics_middleware import MetricsMiddleware
from tests.wsgi import call
from tests.wsgi import environ


def app(env: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [])
    return [b"ok"]


def serve(mw: MetricsMiddleware, count: int) -> None:
    for number in range(count):
        call(mw, environ("GET", f"/v2.1/flavors/{number}"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("socket")
    parser.add_argument("count", type=int)
    parser.add_argument("how", choices=["exit", "os_exit", "multiprocessing"])
    parser.add_argument("grace", nargs="?", default="10")
    args = parser.parse_args()
    logging.basicConfig(format="%(message)s", level=logging.INFO)
    mw = MetricsMiddleware(app, {
        "metrics_socket_file": args.socket,
        "service_name": "compute",
        "buffer_size": "2000",
        "max_routes": "100000",
        "exit_grace_period": args.grace,
    })
    if args.how == "exit":
        serve(mw, args.count)
    elif args.how == "os_exit":
        pid = os.fork()
        if pid == 0:
            serve(mw, args.count)
            oslo_metrics_middleware.flush()
            os._exit(0)
        os.waitpid(pid, 0)
    else:
        child = multiprocessing.get_context("fork").Process(
            target=serve, args=(mw, args.count)
        )
        child.start()
        child.join()


if __name__ == "__main__":
    main()
