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

"""The sample API from api-paste.ini.sample, configured by environment.

Servers import ``application`` from here (``module:application``).  The
filter's options come through paste's global_conf:

- ``METRICS_TEST_SOCKET``: the collector's socket (required);
- ``METRICS_TEST_FLUSH_INTERVAL``: seconds between flushes (default 0.05);
- ``METRICS_TEST_BUFFER_SIZE``: samples held per process (default 10000);
- ``METRICS_TEST_EXIT_GRACE``: the exit grace period (default 3);
- ``METRICS_TEST_BATCH_FORMAT``: the batch format (the filter's default
  when unset).

Every response carries ``X-Worker-Pid`` so a test can tell which process of
a multi-process server answered.
"""

from __future__ import annotations

from collections.abc import Iterable
import os
from typing import TYPE_CHECKING

from paste.deploy import loadapp

from oslo_metrics_middleware import assets
from tests.functional.apps import BATCH_FORMAT_ENV
from tests.functional.apps import BUFFER_SIZE_ENV
from tests.functional.apps import EXIT_GRACE_ENV
from tests.functional.apps import FLUSH_INTERVAL_ENV
from tests.functional.apps import PID_HEADER
from tests.functional.apps import SOCKET_ENV

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

PASTE_SAMPLE = assets.path(assets.PASTE_SAMPLE)


def filter_options() -> dict[str, str]:
    """The metrics filter's options, taken from the environment."""
    options = {
        "metrics_socket_file": os.environ[SOCKET_ENV],
        "flush_interval": os.environ.get(FLUSH_INTERVAL_ENV, "0.05"),
        "buffer_size": os.environ.get(BUFFER_SIZE_ENV, "10000"),
        "exit_grace_period": os.environ.get(EXIT_GRACE_ENV, "3"),
    }
    if BATCH_FORMAT_ENV in os.environ:
        options["batch_format"] = os.environ[BATCH_FORMAT_ENV]
    return options


def load_sample_api() -> WSGIApplication:
    """The ``osapi_compute`` composite, metrics filter first."""
    app: WSGIApplication = loadapp(
        f"config:{PASTE_SAMPLE}",
        name="osapi_compute",
        global_conf=filter_options(),
    )
    return app


def with_pid_header(app: WSGIApplication) -> WSGIApplication:
    """``app`` with the answering process id added to every response."""
    def tagged(
        environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        def tagging_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: object = None
        ) -> object:
            headers = [*headers, (PID_HEADER, str(os.getpid()))]
            return start_response(status, headers, exc_info)  # type: ignore[arg-type]

        return app(environ, tagging_start_response)  # type: ignore[arg-type]

    return tagged


application = with_pid_header(load_sample_api())
