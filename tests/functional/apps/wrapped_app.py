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

"""Plain WSGI applications for the wrapper to measure.

``application`` answers every path with 200 and the process id;
``not_callable`` is no application at all.  Importing the module also
counts imports per process, so a test can tell the wrapper built once.
"""

from __future__ import annotations

from collections.abc import Iterable
import os
from typing import TYPE_CHECKING

from tests.functional.apps import PID_HEADER

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIEnvironment

not_callable = "not an application"


def application(
    environ: WSGIEnvironment, start_response: StartResponse
) -> Iterable[bytes]:
    body = environ["PATH_INFO"].encode()
    start_response("200 OK", [
        ("Content-Type", "text/plain"),
        ("Content-Length", str(len(body))),
        (PID_HEADER, str(os.getpid())),
    ])
    return [body]
