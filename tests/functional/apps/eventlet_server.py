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
