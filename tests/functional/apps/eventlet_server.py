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

"""eventlet.wsgi serving the sample API, monkey-patched like OpenStack.

Usage: ``PORT``.  The environment configures the filter (see paste_app).
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import logging  # noqa: E402

import eventlet.wsgi  # noqa: E402

from tests.functional.apps import paste_app  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    args = parser.parse_args()
    listener = eventlet.listen(("127.0.0.1", args.port))
    quiet = logging.getLogger("eventlet.wsgi.quiet")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    print("LISTENING", flush=True)
    eventlet.wsgi.server(
        listener, paste_app.application, log=quiet, max_size=100
    )


if __name__ == "__main__":
    main()
