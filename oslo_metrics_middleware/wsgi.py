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

"""A WSGI entry point that measures another one: for APIs without paste.

keystone, placement and ironic build their WSGI application in code, so
there is no pipeline to put the filter in.  Point the server at this
module instead and name the service's own application in the
environment::

    # uWSGI
    module = oslo_metrics_middleware.wsgi:application
    env = OSLO_METRICS_WRAP_APP=keystone.wsgi.api:application
    env = OSLO_METRICS_SERVICE_NAME=identity

Under Apache mod_wsgi, ``SetEnv`` lines reach the request rather than the
process, so the variables are also read from the first request.

The service's application is imported on the first request of each
process, under a lock: a uWSGI master that forks its workers never opens
the service's database connections or threads itself.  The filter reads
the ``[oslo_metrics_middleware]`` section of the configuration the service
parsed (keystone and ironic parse oslo.config's global one); a service
with a private configuration object, such as placement, names its project
and file with ``OSLO_METRICS_CONFIG_PROJECT`` and ``OSLO_METRICS_CONFIG_FILE``.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
import importlib
import importlib.util
import logging
import os
import sys
import threading
from typing import TYPE_CHECKING
from typing import Any

from oslo_metrics_middleware.middleware import MetricsMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

LOG = logging.getLogger(__name__)

WRAP_APP = "OSLO_METRICS_WRAP_APP"
SERVICE_NAME = "OSLO_METRICS_SERVICE_NAME"
CONFIG_PROJECT = "OSLO_METRICS_CONFIG_PROJECT"
CONFIG_FILE = "OSLO_METRICS_CONFIG_FILE"
SETTINGS = (WRAP_APP, SERVICE_NAME, CONFIG_PROJECT, CONFIG_FILE)
PROG = "oslo_metrics_middleware.wsgi"


class WrapError(RuntimeError):
    """The application to wrap cannot be found or built; one line."""

    def __str__(self) -> str:
        return f"{PROG}: error: {self.args[0]}"


def settings(*sources: Mapping[str, Any]) -> dict[str, str]:
    """The wrapper's variables, from the first source that has each."""
    found: dict[str, str] = {}
    for name in SETTINGS:
        for source in sources:
            value = source.get(name)
            if isinstance(value, str) and value.strip():
                found[name] = value.strip()
                break
    return found


def app_spec(found: Mapping[str, str]) -> tuple[str, str]:
    """``module:attribute`` of the application to wrap, checked for form
    and for the module being installed, without importing it."""
    spec = found.get(WRAP_APP)
    if spec is None:
        raise WrapError(
            f"{WRAP_APP} is not set: name the application to measure, "
            "e.g. keystone.wsgi.api:application"
        )
    module, _, attribute = spec.partition(":")
    if not module or not attribute or not attribute.isidentifier():
        raise WrapError(
            f"{WRAP_APP}={spec!r} is not of the form module:attribute"
        )
    try:
        found_module = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        found_module = None
        reason = f"{type(exc).__name__}: {exc}"
    else:
        reason = "no such module"
    if found_module is None:
        raise WrapError(f"{WRAP_APP}={spec}: cannot import {module}: {reason}")
    return module, attribute


def load_app(module: str, attribute: str) -> WSGIApplication:
    """Import the service's application; a failure in one line."""
    spec = f"{module}:{attribute}"
    try:
        imported = importlib.import_module(module)
    except Exception as exc:  # the service's own import-time failure
        raise WrapError(
            f"{WRAP_APP}={spec}: importing {module} failed: "
            f"{type(exc).__name__}: {_one_line(exc)}"
        ) from exc
    app = getattr(imported, attribute, None)
    if app is None:
        raise WrapError(f"{WRAP_APP}={spec}: {module} has no {attribute}")
    if not callable(app):
        raise WrapError(
            f"{WRAP_APP}={spec}: {attribute} is a {type(app).__name__}, "
            "not a WSGI application"
        )
    result: WSGIApplication = app
    return result


def filter_conf(found: Mapping[str, str], module: str) -> dict[str, str]:
    """The filter's own settings, the way a paste section would give them.

    Without a project of its own the filter reads oslo.config's global
    configuration, which keystone and ironic parse when their application
    is built.  The service label falls back to the application's top-level
    package only when no configuration names the service.
    """
    conf: dict[str, str] = {}
    if CONFIG_PROJECT in found or CONFIG_FILE in found:
        conf["oslo_config_project"] = found.get(
            CONFIG_PROJECT, module.partition(".")[0]
        )
        if CONFIG_FILE in found:
            conf["oslo_config_file"] = found[CONFIG_FILE]
    if SERVICE_NAME in found:
        conf["service_name"] = found[SERVICE_NAME]
    elif "oslo_config_project" not in conf and not _global_project():
        conf["service_name"] = module.partition(".")[0]
    return conf


def _global_project() -> str | None:
    from oslo_config import cfg

    project: str | None = getattr(cfg.CONF, "project", None)
    return project


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or "(no message)"


class WrappedApplication:
    """Builds the filter around the named application on its first call.

    The first request of each process builds it, under a lock so threads
    of one process build it once.  A failure answers 500 and is reported
    in one line, then every later request of the process answers the same:
    a service's half-run import cannot be run again cleanly (oslo.config
    refuses to register its options twice), so only a restart can fix it.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._lock = threading.Lock()
        self._app: WSGIApplication | None = None
        self._failure: str | None = None
        self._pid = 0
        # A missing or misspelled module is known before any request.
        found = settings(environ)
        if WRAP_APP in found:
            app_spec(found)

    def build(self, request: Mapping[str, Any]) -> WSGIApplication:
        found = settings(self._environ, request)
        module, attribute = app_spec(found)
        app = load_app(module, attribute)
        middleware = MetricsMiddleware(app, filter_conf(found, module))
        LOG.info(
            "Measuring %s:%s as service %s", module, attribute, middleware.service
        )
        return middleware

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        app = self._app
        if app is None or self._pid != os.getpid():
            app = self._built(environ)
            if app is None:
                print(self._failure, file=sys.stderr, flush=True)
                start_response(
                    "500 Internal Server Error",
                    [("Content-Type", "text/plain"), ("Content-Length", "0")],
                )
                return [b""]
        return app(environ, start_response)

    def _built(self, environ: WSGIEnvironment) -> WSGIApplication | None:
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._app = self._failure = None
                try:
                    self._app = self.build(environ)
                except Exception as exc:
                    self._failure = _message(exc)
            return self._app


def _message(exc: Exception) -> str:
    if isinstance(exc, WrapError):
        return str(exc)
    return f"{PROG}: error: {type(exc).__name__}: {_one_line(exc)}"


def _application() -> WrappedApplication:
    try:
        return WrappedApplication(os.environ)
    except WrapError as exc:
        # The server reports a failed import with a traceback around it;
        # this line says what to fix.
        print(exc, file=sys.stderr, flush=True)
        raise SystemExit(1) from None


application = _application()
