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

"""The collector's configuration: read, checked, and turned into settings.

``[oslo_metrics]`` holds the upstream daemon's options under their upstream
names and defaults, but for the socket's directory, so one configuration
file serves either daemon.
``[collector]`` holds the caps only this collector has.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import glob
import os
from typing import Any

from oslo_config import cfg
from oslo_log import log

from oslo_metrics_middleware import version
from oslo_metrics_middleware.collector.ingest import Limits

UPSTREAM_GROUP = "oslo_metrics"
GROUP = "collector"

UPSTREAM_OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "metrics_socket_file",
        default="/run/oslo-metrics/metrics_collector.sock",
        help="Unix datagram socket the API processes send to. Its directory "
        "must exist: the shipped systemd unit makes /run/oslo-metrics, which "
        "only root and the collector may write to. A socket file left by a "
        "stopped collector is replaced; anything else at that path makes the "
        "collector refuse to start. The upstream daemon's default is "
        "/var/tmp/metrics_collector.sock, in a directory every user may "
        "write to.",
    ),
    cfg.IntOpt(
        "metrics_socket_perm",
        default=0o660,
        min=0,
        max=0o777,
        help="Mode of the socket file, in decimal (432 is 0660). The API "
        "processes need write permission.",
    ),
    cfg.StrOpt(
        "prometheus_host",
        default="",
        help="Address /metrics is served on; empty means every IPv4 "
        "interface.",
    ),
    cfg.PortOpt(
        "prometheus_port",
        default=3000,
        help="Port /metrics is served on.",
    ),
    cfg.BoolOpt(
        "wsgi_silent_server",
        default=True,
        help="Do not log each HTTP request to /metrics.",
    ),
]

COLLECTOR_OPTS: list[cfg.Opt] = [
    cfg.IntOpt(
        "max_routes",
        default=1000,
        min=1,
        max=1_000_000,
        help="Most distinct route labels per service, across every process "
        "that sends to this collector. Requests on further routes are "
        "labelled '__overflow__' and counted in "
        "oslo_metrics_collector_overflow_total{label=\"route\"}.",
    ),
    cfg.IntOpt(
        "max_label_values",
        default=100,
        min=1,
        max=100_000,
        help="Most distinct values per service of each other free-form "
        "request label (method, exception, action, microversion); further "
        "values become '__overflow__' and are counted the same way.",
    ),
    cfg.IntOpt(
        "max_services",
        default=100,
        min=1,
        max=100_000,
        help="Most distinct service labels; further services become "
        "'__overflow__'.",
    ),
    cfg.IntOpt(
        "max_series_per_metric",
        default=10_000,
        min=1,
        max=10_000_000,
        help="Most label sets of each metric sent one message per sample "
        "(oslo.messaging's RPC metrics; the filters' counters are bounded by "
        "max_services and their closed set of reasons). Messages "
        "for further label sets are refused and counted in "
        "oslo_metrics_collector_rejected_total{reason=\"series_limit\"}.",
    ),
    cfg.IntOpt(
        "max_request_series",
        default=5000,
        min=20,
        max=10_000_000,
        help="Most label sets of each request metric (the duration, size "
        "and action histograms, the exception counter), across every "
        "service, '__overflow__' ones included. Each label is capped on its "
        "own, but their combinations can still multiply. A request that "
        "finds no room is recorded with method and route '__overflow__' and "
        "its status class ('5xx') under its service, and counted in "
        "oslo_metrics_collector_overflow_total{label=\"series\"}. Room for "
        "those label sets (five per service, one in the exception counter) "
        "is kept from a service's first label set; a service that comes when "
        "a metric is full is recorded there under service '__overflow__'.",
    ),
    cfg.IntOpt(
        "max_request_label_bytes",
        default=320 * 1024,
        min=1024,
        max=1 << 30,
        help="Most UTF-8 bytes of free label values (service, method, route, "
        "action, microversion, exception; not status) held by the label "
        "sets of each request metric, '__overflow__' ones included: 64 bytes "
        "a label set on average at the default max_request_series. With it "
        "the size of /metrics and of the collector's memory has a bound "
        "close to that of real labels, however long each one is. A request "
        "whose new label set would pass it is recorded as one past "
        "max_request_series is, and counted in "
        "oslo_metrics_collector_overflow_total{label=\"bytes\"}.",
    ),
    cfg.IntOpt(
        "max_label_bytes",
        default=256,
        min=32,
        max=4096,
        help="Longest label value kept, in UTF-8 bytes. A longer service, "
        "method, route, exception, action or microversion of a request is "
        "recorded as '__overflow__' and counted in "
        "oslo_metrics_collector_overflow_total; a longer label of any other "
        "metric is refused and counted in "
        "oslo_metrics_collector_rejected_total{reason=\"label_length\"}. "
        "With the other caps it bounds the size of /metrics.",
    ),
    cfg.IntOpt(
        "top_projects",
        default=10,
        min=0,
        max=100,
        help="Most projects named per service in "
        "openstack_api_project_requests_total and "
        "openstack_api_project_busy_seconds_total: the heaviest of the last "
        "window, found with a summary of 100 counters per project named. "
        "Requests of every other project are counted under '__other__'. "
        "0 turns both metrics off.",
    ),
    cfg.IntOpt(
        "project_window",
        default=300,
        min=1,
        max=86_400,
        help="Seconds over which the heaviest projects are chosen; a "
        "project's series is pending, counted and frozen for at least a "
        "window each. Keep it at least twice Prometheus' scrape interval, "
        "so that every value a project's counter takes is scraped.",
    ),
    cfg.IntOpt(
        "http_max_connections",
        default=64,
        min=1,
        max=10_000,
        help="Most HTTP connections to /metrics open at once, each served in "
        "a thread. When all are taken, the oldest one that has not sent its "
        "request yet is closed to make room; if every one is being answered, "
        "the new connection is closed. The collector needs this many file "
        "descriptors and 64 more (LimitNOFILE), and checks it on start.",
    ),
    cfg.FloatOpt(
        "http_timeout",
        default=10.0,
        min=0.1,
        max=3600.0,
        help="Seconds an HTTP client has to send its whole request after "
        "connecting, and to take each piece of the answer; slower clients "
        "are disconnected.",
    ),
    cfg.StrOpt(
        "web_config_file",
        default="",
        help="YAML file enabling TLS and basic authentication on /metrics, "
        "in the layout of the Prometheus exporters' --web.config.file "
        "(tls_server_config: cert_file, key_file; basic_auth_users: user "
        "name to bcrypt hash). Empty serves plain HTTP to anyone.",
    ),
]
# Options of COLLECTOR_OPTS that are not caps of what is recorded.
HTTP_OPTS = ("http_max_connections", "http_timeout", "web_config_file")


class StartupError(Exception):
    """An operator error found before the collector starts: one line."""


@dataclasses.dataclass(frozen=True)
class Settings:
    socket_path: str
    socket_perm: int
    host: str
    port: int
    silent: bool
    limits: Limits
    http_max_connections: int
    http_timeout: float
    web_config_file: str


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """The collector's options, for oslo-config-generator."""
    return [
        (UPSTREAM_GROUP, copy.deepcopy(UPSTREAM_OPTS)),
        (GROUP, copy.deepcopy(COLLECTOR_OPTS)),
    ]


def load(argv: list[str]) -> tuple[cfg.ConfigOpts, Settings]:
    """Parse ``argv`` (``--config-file`` and friends) into checked settings."""
    conf = cfg.ConfigOpts()
    conf.register_opts(UPSTREAM_OPTS, group=UPSTREAM_GROUP)
    conf.register_opts(COLLECTOR_OPTS, group=GROUP)
    log.register_options(conf)
    try:
        conf(
            argv,
            project="oslo-metrics-middleware",
            version=version.version_string(),
            default_config_files=[],
        )
    except cfg.ConfigFilesNotFoundError as exc:
        files = ", ".join(exc.config_files)
        raise StartupError(f"configuration file not found: {files}") from None
    except cfg.ConfigFilesPermissionDeniedError as exc:
        files = ", ".join(exc.config_files)
        raise StartupError(f"configuration file not readable: {files}") from None
    except cfg.Error as exc:
        raise StartupError(_first_line(exc)) from None
    except OSError as exc:
        raise StartupError(
            f"cannot read configuration {exc.filename}: {exc.strerror}"
        ) from None
    _check_names(conf)
    upstream = _values(conf, UPSTREAM_GROUP, UPSTREAM_OPTS)
    ours = _values(conf, GROUP, COLLECTOR_OPTS)
    http = {name: ours.pop(name) for name in HTTP_OPTS}
    settings = Settings(
        socket_path=upstream["metrics_socket_file"],
        socket_perm=upstream["metrics_socket_perm"],
        host=upstream["prometheus_host"],
        port=upstream["prometheus_port"],
        silent=upstream["wsgi_silent_server"],
        limits=Limits(**ours),
        **http,
    )
    if not settings.socket_path:
        raise StartupError(f"[{UPSTREAM_GROUP}] metrics_socket_file is empty")
    return conf, settings


def _check_names(conf: cfg.ConfigOpts) -> None:
    """Refuse a section or option the collector does not know.

    oslo.config ignores them, so a typo (``[oslo_metric]``,
    ``prometheus_prot``) would start the collector on its defaults.
    """
    # Every registered group, so options added to load() are known here.
    groups = [name for name in conf if isinstance(conf[name], cfg.ConfigOpts.GroupAttr)]
    known = {
        group: _option_names(conf, group) for group in ["DEFAULT", *groups]
    }
    for path in _files(conf):
        sections: dict[str, dict[str, Any]] = {}
        try:
            cfg.ConfigParser(path, sections).parse()
        except (cfg.Error, OSError) as exc:
            raise StartupError(
                f"cannot read configuration {path}: {_first_line(exc)}"
            ) from None
        for section, values in sections.items():
            if section not in known:
                raise StartupError(
                    f"unknown section [{section}] in {path}"
                    f"{_did_you_mean(section, known)}"
                )
            for name in values:
                if name not in known[section]:
                    raise StartupError(
                        f"unknown option {name} in [{section}] of {path}"
                        f"{_did_you_mean(name, known[section])}"
                    )


def _option_names(conf: cfg.ConfigOpts, group: str) -> set[str]:
    """Every name an option of ``group`` may be given under in a file."""
    scope = conf if group == "DEFAULT" else conf[group]
    names: set[str] = set()
    for name in scope:
        try:
            opt = conf._get_opt_info(name, None if group == "DEFAULT" else group)
        except cfg.NoSuchOptError:
            continue  # a group name, listed among DEFAULT's keys
        names.update({opt["opt"].name, opt["opt"].dest})
        for old in opt["opt"].deprecated_opts:
            if old.name and old.group in (None, group):
                names.add(old.name)
    return names


def _files(conf: cfg.ConfigOpts) -> list[str]:
    """The configuration files oslo.config read, in order."""
    files = list(conf.config_file or [])
    for directory in conf.config_dir or []:
        files += sorted(glob.glob(os.path.join(directory, "*.conf")))
    return files


def _did_you_mean(name: str, choices: Any) -> str:
    close = difflib.get_close_matches(name, sorted(choices), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _values(conf: cfg.ConfigOpts, group: str, opts: list[cfg.Opt]) -> dict[str, Any]:
    """Every option of ``group``, each converted now rather than on first use."""
    values: dict[str, Any] = {}
    for opt in opts:
        try:
            values[opt.dest] = conf[group][opt.dest]
        except (cfg.Error, ValueError) as exc:
            reason = _first_line(exc).rsplit("is not valid: ", 1)[-1]
            raise StartupError(
                f"invalid value for [{group}] {opt.dest}: {reason}"
            ) from None
    return values


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
