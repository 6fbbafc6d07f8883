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

"""One of the pure-Python servers serving the conformance app.

Usage: ``PORT SERVER`` with SERVER one of wsgiref, eventlet, cheroot,
waitress.  The environment configures the app (see ``conformance``).
"""

from __future__ import annotations

import sys

if sys.argv[2] == "eventlet":
    import eventlet

    eventlet.monkey_patch()

import logging
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import WSGIServer
from wsgiref.simple_server import make_server

from tests.functional.apps.conformance_app import application


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def serve_wsgiref(port: int) -> None:
    make_server(
        "127.0.0.1", port, application, ThreadingWSGIServer, WSGIRequestHandler
    ).serve_forever()


def serve_eventlet(port: int) -> None:
    import eventlet.wsgi

    quiet = logging.getLogger("eventlet.wsgi.quiet")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    eventlet.wsgi.server(
        eventlet.listen(("127.0.0.1", port)), application, log=quiet, debug=False
    )


def serve_cheroot(port: int) -> None:
    from cheroot import wsgi

    server = wsgi.Server(("127.0.0.1", port), application, numthreads=4)
    server.safe_start()


def serve_waitress(port: int) -> None:
    import waitress

    waitress.serve(application, host="127.0.0.1", port=port, threads=4, _quiet=True)


SERVERS = {
    "wsgiref": serve_wsgiref,
    "eventlet": serve_eventlet,
    "cheroot": serve_cheroot,
    "waitress": serve_waitress,
}


if __name__ == "__main__":
    SERVERS[sys.argv[2]](int(sys.argv[1]))
