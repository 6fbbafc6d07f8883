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

"""The paste filter that measures every API request."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
import logging
import math
from pathlib import PurePath
import re
import time
from typing import TYPE_CHECKING
from typing import Any

from oslo_config import cfg
from oslo_middleware import base

from oslo_metrics_middleware import lifecycle
from oslo_metrics_middleware import opts
from oslo_metrics_middleware import protocol
from oslo_metrics_middleware import routing
from oslo_metrics_middleware import socket_trust
from oslo_metrics_middleware import transport
from oslo_metrics_middleware.body import CountingInput
from oslo_metrics_middleware.body import HeadKeepingInput
from oslo_metrics_middleware.body import MeteredBody
from oslo_metrics_middleware.body import SizedMeteredBody
from oslo_metrics_middleware.body import TimedFile
from oslo_metrics_middleware.routing import extra
from oslo_metrics_middleware.routing import labels

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

LOG = logging.getLogger(__name__)

_monotonic_ns = time.monotonic_ns

KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
OTHER_METHOD = "other"
_OVERFLOW = labels.OVERFLOW
# nginx's code for a request whose client went away before the response ended.
CLIENT_CLOSED = 499
# Distinct exception class names per filter; more become __other__.
MAX_EXCEPTION_NAMES = 100


_OPTS_BY_NAME = {opt.dest: opt for opt in opts.METRICS_OPTS}
# Paste keys oslo.middleware's base class reads itself.
_BASE_KEYS = frozenset(
    {"oslo_config_project", "oslo_config_file", "oslo_config_program"}
)


class ConfigurationError(ValueError):
    """An option of the filter has a value it cannot use."""


class MetricsMiddleware(base.ConfigurableMiddleware):
    """Measures requests and hands the samples to the oslo.metrics daemon.

    Put it first in each API pipeline of ``api-paste.ini``::

        [filter:metrics]
        paste.filter_factory = oslo_metrics_middleware:MetricsMiddleware.factory
        service_name = compute

    ``oslo-metrics-middleware paste add FILE`` puts it there.  The
    ``service`` label is ``service_name``, else the service's oslo.config
    project, else the project the paste file's path names; the filter does
    not load when none of them gives one.

    Options in the paste section override the ``[oslo_metrics_middleware]``
    section of the service's configuration for this filter only; every value
    is checked when the pipeline loads (:class:`ConfigurationError`).  The
    filter never changes what the application or the server sees: see
    ``doc/source/transport.rst``.
    """

    @classmethod
    def factory(
        cls, global_conf: dict[str, Any] | None, **local_conf: Any
    ) -> Callable[[WSGIApplication], MetricsMiddleware]:
        """The paste filter factory; a misspelled option fails the load."""
        unknown = sorted(set(local_conf) - set(_OPTS_BY_NAME) - _BASE_KEYS)
        if unknown:
            raise ConfigurationError(
                f"Unknown option {unknown[0]} = {local_conf[unknown[0]]!r} "
                f"for the metrics filter (known: {', '.join(_OPTS_BY_NAME)})"
            )
        return super().factory(global_conf, **local_conf)

    def __init__(
        self,
        application: WSGIApplication,
        conf: dict[str, Any] | cfg.ConfigOpts | None = None,
    ) -> None:
        super().__init__(application, conf)
        self._app = application
        self.oslo_conf.register_opts(opts.METRICS_OPTS, group=opts.GROUP)
        self.enabled: bool = self._option("enabled")
        self.service: str = labels.bounded(self._service_name())
        self.excluded_paths = self._excluded_paths()
        self.routes = self._route_resolver()
        self.action_label: bool = self._option("action_label")
        self.microversion_label: bool = self._option("microversion_label")
        self.action_peek_bytes: int = self._option("action_peek_bytes")
        self.request_id_exemplars: bool = self._option("request_id_exemplars")
        self.project_attribution: bool = self._option("project_attribution")
        max_label_values: int = self._option("max_label_values")
        self.extra_labels: extra.ExtraLabels | None = None
        if self.action_label or self.microversion_label:
            self.extra_labels = extra.ExtraLabels(max_label_values)
        self.sender = self._sender()
        self._exceptions = labels.LabelCap(
            MAX_EXCEPTION_NAMES, reserved=(labels.OVERFLOW,)
        )

    def _option(self, name: str) -> Any:
        """The paste value of option ``name`` if given, else oslo.config's.

        Paste values are converted here rather than with set_override, which
        would leak one pipeline's values into every other filter.  A value
        the filter could not use (empty, NaN, infinite) fails here, at load,
        rather than on the first request.
        """
        opt = _OPTS_BY_NAME[name]
        raw: Any = None
        try:
            if name in self.conf:
                raw = self.conf[name]
                value = opt.type(raw)
            else:
                value = getattr(self.oslo_conf[opts.GROUP], name)
                raw = value
        except (ValueError, cfg.Error) as exc:
            raise _invalid(name, raw, str(exc)) from None
        if value is None and opt.default is not None:
            raise _invalid(name, raw, "a value is required")
        if isinstance(value, float) and not math.isfinite(value):
            raise _invalid(name, raw, "the value must be a finite number")
        return value

    def _service_name(self) -> str:
        """The ``service`` label: never the name of the server program,
        which uWSGI or Apache share between every service of a host."""
        name = self._option("service_name")
        if name == "":
            raise _invalid("service_name", name, "a value is required")
        name = (
            name
            or getattr(self.oslo_conf, "project", None)
            or project_of_paste_file(self.conf.get("__file__"))
        )
        if not name:
            raise ConfigurationError(
                f"No service name for the metrics filter: set service_name in "
                f"its paste section or in [{opts.GROUP}] of the service's "
                "configuration (it is not an oslo.config project and its "
                "paste file's path names none)"
            )
        return str(name)

    def _excluded_paths(self) -> tuple[str, ...]:
        paths = self._option("excluded_paths")
        for path in paths:
            if path and not path.startswith("/"):
                raise _invalid(
                    "excluded_paths", path, "each path must start with '/'"
                )
        return tuple(path.rstrip("/") for path in paths if path)

    def _sender(self) -> transport.DatagramSender:
        path = self._option("metrics_socket_file")
        try:
            warning = transport.check_socket_path(path)
        except ValueError as exc:
            raise _invalid("metrics_socket_file", path, str(exc)) from None
        sender = lifecycle.get_sender(
            path,
            self._option("buffer_size"),
            self._option("flush_interval"),
            self._option("exit_grace_period"),
        )
        # Filters of one process share the sender; they normally share
        # these options too, from [oslo_metrics_middleware].
        sender.batch_format = self._option("batch_format")
        sender.trust = socket_trust.SocketTrust(
            path,
            self._option("metrics_socket_owner"),
            self._option("metrics_socket_group"),
        )
        if warning and not sender.announce_delivery:
            sender.announce_delivery = True
            LOG.warning(
                "Metrics socket %s not usable yet: %s; samples are held "
                "until the collector creates it", path, warning,
            )
        return sender

    def _route_resolver(self) -> routing.RouteResolver:
        table = None
        table_file = self._option("route_table_file")
        if table_file:
            try:
                table = routing.read_table(table_file)
            except (OSError, ValueError) as exc:
                raise _invalid("route_table_file", table_file, str(exc)) from None
        max_routes = self._option("max_routes")
        resolvers = self._option("route_resolvers")
        try:
            return routing.RouteResolver(max_routes, resolvers, table)
        except (ImportError, ValueError, TypeError) as exc:
            raise _invalid(
                "route_resolvers", ",".join(resolvers), str(exc)
            ) from None

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        # Every line here runs on every request, and each Python call costs
        # as much as several lines: the exchange is set up here rather than
        # in an __init__, and a list body is counted here.  See "What a
        # request costs" in doc/source/performance.rst.
        app = self._app  # an attribute read costs less than a method lookup
        if not self.enabled:
            return app(environ, start_response)
        try:
            path: str = environ["SCRIPT_NAME"] + environ["PATH_INFO"]
        except KeyError:  # a server may leave an empty one out
            path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        # The tuple test first: most requests need no further call.  (Not
        # a substring test, whose cost grows with the path's length.)
        if path.startswith(self.excluded_paths) and self._is_excluded(path):
            return app(environ, start_response)
        exchange = Exchange()
        exchange.middleware = self
        exchange.environ = environ
        # Kept for the fallback: glance's version negotiation drops an
        # unsupported version from PATH_INFO without moving it elsewhere.
        exchange.path = path
        exchange.server_start_response = start_response
        exchange.status = 0
        exchange.headers = ()
        exchange.response_bytes = 0
        exchange.done = False
        exchange.request_body = None
        # Only a body that can exist is wrapped: no length and no chunking
        # means an empty body, and most API calls are bodiless GETs.
        # (Membership tests: they cost less than a get() call.)
        if (
            "CONTENT_LENGTH" in environ
            and environ["CONTENT_LENGTH"] not in ("0", "")
        ) or "HTTP_TRANSFER_ENCODING" in environ:
            exchange.meter_request_body()
        server_wrapper = None
        if "wsgi.file_wrapper" in environ:
            server_wrapper = environ["wsgi.file_wrapper"]
            if server_wrapper is not None:
                exchange.file_body = None
                environ["wsgi.file_wrapper"] = exchange.wrap_file
        exchange.server_file_wrapper = server_wrapper
        exchange.started = _monotonic_ns()
        try:
            body = app(environ, exchange.start_response)
        except BaseException as exc:
            exchange.restore()
            exchange.finish(exc)
            raise
        if server_wrapper is not None:
            # restore(), inline: most servers offer a file wrapper.
            environ["wsgi.file_wrapper"] = server_wrapper
        if type(body) is list or type(body) is tuple or (
            isinstance(body, (list, tuple))
        ):
            # Complete already: returned as is, so servers still see their
            # list and its length (wsgiref and waitress set Content-Length
            # for one item; a list subclass keeps its own close()).
            # One chunk is the usual case: len() costs a third of sum(map()).
            exchange.response_bytes += (
                len(body[0]) if len(body) == 1 else sum(map(len, body))
            )
            exchange.finish(None)
            return body
        return exchange.watch(body)

    def _is_excluded(self, path: str) -> bool:
        for excluded in self.excluded_paths:
            if path.startswith(excluded) and (
                len(path) == len(excluded) or path[len(excluded)] == "/"
            ):
                return True
        return False

    def exception_label(self, exception: BaseException) -> str:
        """The capped label value naming the class of ``exception``."""
        return self._exceptions.admit(labels.bounded(type(exception).__name__))

    def extra_label_values(
        self, environ: WSGIEnvironment, body: CountingInput | None
    ) -> tuple[str, str]:
        """The action and microversion label values of a request."""
        assert self.extra_labels is not None
        action = extra.ABSENT
        if type(body) is HeadKeepingInput:
            action = extra.action_of(body.head)
        microversion = extra.ABSENT
        if self.microversion_label:
            microversion = self.extra_labels.microversions.admit(
                extra.microversion_of(environ)
            )
            if microversion == labels.OVERFLOW:
                self.sender.count(protocol.MICROVERSION_OVERFLOW, self.service)
        if action:
            action = self.extra_labels.actions.admit(action)
            if action == labels.OVERFLOW:
                self.sender.count(protocol.ACTION_OVERFLOW, self.service)
        return action, microversion


def _invalid(name: str, value: Any, reason: str) -> ConfigurationError:
    return ConfigurationError(
        f"Invalid value for option [{opts.GROUP}] {name} = {value!r}: {reason}"
    )


# <project>-api-paste.ini, <project>-paste.ini (glance-api-paste.ini)
_PROJECT_PASTE_FILE = re.compile(r"^(?!api-)([a-z][a-z0-9_]*)(?:-api)?-paste\.ini$")
_PROJECT = re.compile(r"^[a-z][a-z0-9_]*$")


def project_of_paste_file(path: object) -> str | None:
    """The project a paste file belongs to, from where it is installed:
    ``.../etc/<project>/...paste.ini`` (packages, devstack, kolla,
    openstack-ansible) or a ``<project>-api-paste.ini`` file name."""
    if not isinstance(path, str) or not path:
        return None
    parts = PurePath(path).parts
    named = _PROJECT_PASTE_FILE.match(parts[-1])
    if named:
        return named.group(1)
    if len(parts) >= 3 and parts[-3] == "etc" and _PROJECT.match(parts[-2]):
        return parts[-2]
    return None


class Exchange:
    """The measurement of one request, from entry to the closing of its body.

    ``MetricsMiddleware.__call__`` sets it up: a class with an
    ``__init__`` costs a further Python call on every request.  Calling
    the exchange is the legacy ``write()`` callable, counted like the
    body: the exchange itself, so that no bound method is built on every
    request.
    """

    __slots__ = (
        "done",
        "environ",
        "file_body",
        "headers",
        "middleware",
        "path",
        "request_body",
        "response_bytes",
        "server_file_wrapper",
        "server_start_response",
        "server_write",
        "started",
        "status",
    )
    done: bool
    environ: WSGIEnvironment
    file_body: object
    headers: Sequence[tuple[str, str]]
    middleware: MetricsMiddleware
    path: str
    request_body: CountingInput | None
    response_bytes: int
    server_file_wrapper: Any
    server_start_response: StartResponse
    server_write: Callable[[bytes], object]
    started: int
    status: int

    def meter_request_body(self) -> None:
        """Count what the application reads of the request body."""
        environ = self.environ
        middleware = self.middleware
        stream = environ["wsgi.input"]
        if middleware.action_label and extra.is_action_request(environ):
            self.request_body = HeadKeepingInput(
                stream, middleware.action_peek_bytes
            )
        else:
            self.request_body = CountingInput(stream)
        environ["wsgi.input"] = self.request_body

    def wrap_file(self, filelike: Any, *block_size: Any) -> Any:
        """The app's ``wsgi.file_wrapper``: the server's, given a file
        timed until the server closes it."""
        self.file_body = self.server_file_wrapper(
            TimedFile(filelike, self), *block_size
        )
        return self.file_body

    def restore(self) -> None:
        """Give the server back its own ``wsgi.file_wrapper``.

        Servers read it again once the app has returned: gunicorn sends
        with sendfile only when ``isinstance(body, environ[...])``.
        """
        if self.server_file_wrapper is not None:
            self.environ["wsgi.file_wrapper"] = self.server_file_wrapper

    def start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: Any = None,
    ) -> Callable[[bytes], object]:
        try:
            # A subscript costs half a get() call; a status line that is
            # not a str (or not seen yet) is parsed, and goes to the server
            # as it came.
            code = _STATUS_CODES[status]
        except (KeyError, TypeError):
            code = status_code(status)
        self.status = code
        self.headers = headers
        start_response = self.server_start_response  # read, not looked up
        self.server_write = start_response(status, headers, exc_info)
        return self

    def __call__(self, data: bytes) -> object:
        """The legacy write() callable, counted like the body."""
        self.response_bytes += len(data)
        return self.server_write(data)

    def watch(self, body: Iterable[bytes]) -> Iterable[bytes]:
        """Return ``body``, an iterable that is not a list, for the
        server, recording when it is closed."""
        if self.server_file_wrapper is not None and body is self.file_body:
            # The server's own wrapper, so it still uses sendfile; timed
            # until the server closes it (see TimedFile).
            return body
        kind = type(body)
        try:
            metered = _METERED_BY_TYPE[kind]
        except KeyError:
            # A body the server may take the length of keeps its length.
            metered = SizedMeteredBody if hasattr(kind, "__len__") else MeteredBody
            if len(_METERED_BY_TYPE) < _MAX_BODY_TYPES:
                _METERED_BY_TYPE[kind] = metered
        return metered(body, self)

    def finish(
        self, exception: BaseException | None, closed_early: bool = False
    ) -> None:
        """Turn the request into a sample for the daemon; only the first
        call counts.

        One method from the end of the request to the queue: each Python
        call costs about as much as several of these lines.
        """
        if self.done:
            return
        self.done = True
        now = _monotonic_ns()
        status = self.status
        environ = self.environ
        if exception is not None:
            status = 500
        elif closed_early and (
            status == 0 or environ.get("REQUEST_METHOD") != "HEAD"
        ):
            # A HEAD response may legitimately end before its body does.
            status = CLIENT_CLOSED
        elif status == 0:
            status = 500
        middleware = self.middleware
        route = middleware.routes.resolve(environ, status, self.path)
        if route == _OVERFLOW:
            middleware.sender.count(transport.ROUTE_OVERFLOW, middleware.service)
        try:
            method = environ["REQUEST_METHOD"]  # a subscript, not a get() call
        except KeyError:
            method = OTHER_METHOD
        if method not in KNOWN_METHODS:
            method = OTHER_METHOD
        exception_name = None
        if exception is not None:
            exception_name = middleware.exception_label(exception)
        body = self.request_body
        action: str | None = None
        microversion: str | None = None
        if middleware.extra_labels is not None:
            action, microversion = middleware.extra_label_values(environ, body)
        request_id = None
        if middleware.request_id_exemplars:
            request_id = environ.get(REQUEST_ID_ENVIRON)
            if type(request_id) is not str:
                # Without oslo.middleware's request_id filter, a response
                # header may give it (searched here, not in a function of
                # its own: a call costs more than a short search).
                request_id = None
                for name, value in self.headers:
                    # The length first: most headers are skipped without
                    # lower().
                    if len(name) == REQUEST_ID_LENGTH and (
                        name.lower() == REQUEST_ID_HEADER
                    ):
                        request_id = value
                        break
        project = None
        if middleware.project_attribution and PROJECT_ENVIRON in environ:
            # (A membership test costs less than a get() call that misses.)
            project = validated_project(environ)
        sample: protocol.Sample = (
            middleware.service,
            method,
            route,
            status,
            exception_name,
            action,
            microversion,
            (now - self.started) // 1000,
            0 if body is None else body.bytes_read,
            self.response_bytes,
            request_id,
            project,
        )
        middleware.sender.submit(sample, now)


# oslo.middleware's request_id filter keeps the id under this key.
REQUEST_ID_ENVIRON = "openstack.request_id"
REQUEST_ID_HEADER = "x-openstack-request-id"
REQUEST_ID_LENGTH = len(REQUEST_ID_HEADER)
# keystonemiddleware's auth_token, and keystone's own middleware built on
# it, set the X-Project-Id and X-Identity-Status request headers of a
# validated token, and leave their auth plugin in the environ.
PROJECT_ENVIRON = "HTTP_X_PROJECT_ID"
IDENTITY_STATUS_ENVIRON = "HTTP_X_IDENTITY_STATUS"
TOKEN_AUTH_ENVIRON = "keystone.token_auth"  # noqa: S105 (a key)


def validated_project(environ: WSGIEnvironment) -> str | None:
    """The project of the token validated for this request, if any.

    The headers alone prove nothing: keystone's middleware keeps those a
    client sends without a token.  The plugin only the middleware puts in
    the environ holds the token's user when there was a token, and the
    status it sets says the token was valid (auth_token told to delay its
    decision passes requests on whose token it refused).  An unscoped
    token sets an empty project.
    """
    if (
        environ.get(IDENTITY_STATUS_ENVIRON) != "Confirmed"
        or getattr(environ.get(TOKEN_AUTH_ENVIRON), "user", None) is None
    ):
        return None
    project = environ.get(PROJECT_ENVIRON) or None
    if project is not None and (
        type(project) is not str or len(project) > protocol.MAX_PROJECT_CHARS
    ):
        return protocol.UNREADABLE_PROJECT
    return project


# The wrapper of each type of body: hasattr() formats an error message
# each time a type lacks the attribute, which costs more than the rest of
# watch().  An application returns few types of body.
_METERED_BY_TYPE: dict[type, type[MeteredBody]] = {}
_MAX_BODY_TYPES = 100


# Status lines by the ones an application sends: parsing one with int()
# costs more than the rest of start_response.  Standard reason phrases
# are under 40 characters; longer lines are parsed each time, so the
# memory stays within 1,000 short lines (about 100 KiB).
_STATUS_CODES: dict[str, int] = {}
_MAX_STATUS_LINES = 1000
_MAX_STATUS_LINE_CHARS = 64


def status_code(status: str) -> int:
    """The code of a status line, 0 if it has none; remembered."""
    try:
        code = int(status[:3])
    except (TypeError, ValueError):
        return 0
    if (
        type(status) is str
        and len(status) <= _MAX_STATUS_LINE_CHARS
        and len(_STATUS_CODES) < _MAX_STATUS_LINES
    ):
        _STATUS_CODES[status] = code
    return code
