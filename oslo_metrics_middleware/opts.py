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

"""Configuration options of the metrics filter, for oslo-config-generator."""

from __future__ import annotations

import copy

from oslo_config import cfg

from oslo_metrics_middleware import socket_trust

GROUP = "oslo_metrics_middleware"

# In the collector's own runtime directory (systemd's RuntimeDirectory=),
# which only root and the collector's user can write to.  oslo.messaging
# and the upstream oslo.metrics daemon default to
# /var/tmp/metrics_collector.sock: same file name, shared directory.
DEFAULT_SOCKET = "/run/oslo-metrics/metrics_collector.sock"

METRICS_OPTS = [
    cfg.BoolOpt(
        "enabled",
        default=True,
        help="Measure API requests and send them to the oslo.metrics daemon. "
        "When False the filter passes requests through untouched.",
    ),
    cfg.StrOpt(
        "metrics_socket_file",
        default=DEFAULT_SOCKET,
        help="Unix datagram socket of the oslo.metrics daemon (the "
        "[oslo_metrics] metrics_socket_file of the collector). At most 107 "
        "bytes; an empty path or a directory fails the pipeline load. A "
        "path whose directory does not exist yet is accepted with a "
        "warning (the collector may start later); a line is logged once "
        "delivery works. Samples are sent only to a socket owned by "
        "metrics_socket_owner (or root, or the API's own user) in "
        "directories no other user can write to, or that are sticky.",
    ),
    cfg.StrOpt(
        "metrics_socket_owner",
        default=socket_trust.DEFAULT_OWNER,
        help="User (name or uid) the collector runs as. A socket owned by "
        "anyone else but root or the API's own user, or one in a "
        "directory such a user owns or that every user may write to "
        "without the sticky bit, is not sent to: the filter logs why once "
        "and counts its samples in "
        "openstack_api_metrics_dropped_samples_total with reason "
        "'untrusted_socket'. Checked again whenever the socket file "
        "changes. Empty trusts only root and the API's own user.",
    ),
    cfg.StrOpt(
        "metrics_socket_group",
        default="",
        help="Group (name or gid) the socket must also belong to, for "
        "example the group the collector's unit runs with. Empty does not "
        "check the group.",
    ),
    cfg.StrOpt(
        "service_name",
        help="Value of the 'service' label, for example 'compute'. When "
        "unset: the service's oslo.config project ('nova'), else the "
        "project the paste file's path names (/etc/<project>/... or "
        "<project>-api-paste.ini). The name of the server program "
        "(gunicorn, uwsgi, httpd) is never used: when nothing names the "
        "service, the pipeline fails to load with an error naming this "
        "option.",
    ),
    cfg.ListOpt(
        "excluded_paths",
        default=["/healthcheck"],
        help="Request paths that are not measured. A path excludes itself "
        "and everything below it ('/healthcheck' also covers "
        "'/healthcheck/details'). Each must start with '/'.",
    ),
    cfg.IntOpt(
        "buffer_size",
        default=10000,
        min=1,
        max=10_000_000,
        help="Most samples held in memory per process while the daemon is "
        "slow or down. Samples beyond it are dropped and counted in "
        "openstack_api_metrics_dropped_samples_total.",
    ),
    cfg.IntOpt(
        "max_routes",
        default=500,
        min=1,
        max=100_000,
        help="Most distinct route labels per process from the routers' own "
        "templates; labels guessed from raw paths have a separate budget of "
        "a fifth of this. Requests on further routes are labelled "
        "'__overflow__' and counted in "
        "openstack_api_metrics_route_overflow_total.",
    ),
    cfg.StrOpt(
        "route_table_file",
        help="File of route templates, one a line, such as "
        "'/v2.1/servers/{id}' ('#' starts a comment). A request whose "
        "path (SCRIPT_NAME + PATH_INFO) matches a template gets it as its "
        "route label, before any router is asked; each '{name}' matches "
        "one path segment and literal segments win over placeholders.",
    ),
    cfg.ListOpt(
        "route_resolvers",
        default=["routes", "placement", "flask", "pecan"],
        help="Resolvers asked for the route template, in order: the "
        "built-in 'routes', 'placement', 'flask' and 'pecan', or the name "
        "of an entry point in the 'oslo_metrics_middleware.route_resolvers' "
        "namespace. Requests none of them claims get a template guessed "
        "from the path.",
    ),
    cfg.BoolOpt(
        "microversion_label",
        default=False,
        help="Also observe openstack_api_action_duration_seconds with a "
        "'microversion' label from the OpenStack-API-Version or legacy "
        "X-OpenStack-<Service>-API-Version request header (well-formed 'N.M' only, "
        "'__other__' otherwise, '' when absent).",
    ),
    cfg.BoolOpt(
        "action_label",
        default=False,
        help="Also observe openstack_api_action_duration_seconds with an "
        "'action' label: for POST requests on '.../action' routes, the "
        "first key of the JSON body ('os-start', 'reboot'), taken from the "
        "first action_peek_bytes bytes the application reads. Nothing is "
        "read ahead of the application, so a body it never reads gives "
        "'__other__'.",
    ),
    cfg.BoolOpt(
        "request_id_exemplars",
        default=True,
        help="Send each request's id (set by oslo.middleware's request_id "
        "filter, or else the X-OpenStack-Request-ID response header) with "
        "its sample, so the collector attaches it to the duration "
        "histogram as an OpenMetrics exemplar and a slow bucket leads to "
        "the request's logs.",
    ),
    cfg.BoolOpt(
        "project_attribution",
        default=True,
        help="Send each request's project (the X-Project-Id that "
        "keystonemiddleware's auth_token filter puts in the WSGI environ, "
        "read after the application returns) with its sample, so the "
        "collector can tell which projects drive the load. A request with "
        "no project sends none. Turn it off in a pipeline without "
        "auth_token, where the header would come from the client.",
    ),
    cfg.IntOpt(
        "action_peek_bytes",
        default=256,
        min=16,
        max=4096,
        help="Most request body bytes kept from what the application reads "
        "to find the action name.",
    ),
    cfg.IntOpt(
        "max_label_values",
        default=100,
        min=1,
        max=10_000,
        help="Most distinct values of each of the 'action' and "
        "'microversion' labels per process. Further values become "
        "'__overflow__' and are counted in "
        "openstack_api_metrics_action_overflow_total and "
        "openstack_api_metrics_microversion_overflow_total.",
    ),
    cfg.FloatOpt(
        "flush_interval",
        default=1.0,
        min=0.01,
        max=60.0,
        help="Seconds between deliveries of buffered samples to the daemon; "
        "a burst of 400 samples is delivered at once. Each delivery has a "
        "fixed cost (a few hundred microseconds of CPU once the caches have "
        "gone cold), so a shorter interval costs a quiet service more per "
        "request.",
    ),
    cfg.FloatOpt(
        "exit_grace_period",
        default=3.0,
        min=0.0,
        max=60.0,
        help="Seconds a process leaving (normal exit, a recycled worker, a "
        "multiprocessing child, or a call to "
        "oslo_metrics_middleware.flush() before os._exit) keeps delivering "
        "the samples it holds to a collector that is behind or down. What "
        "is still held then goes to the collector's spool directory next to "
        "the socket, read when the collector is back; when the spool has no "
        "room it keeps only their count as dropped (reason 'exit'). One log "
        "line gives the number.",
    ),
    cfg.IntOpt(
        "batch_format",
        default=3,
        choices=[2, 3],
        help="Format of the batch datagrams sent to the collector. 3 packs "
        "each batch's durations and body sizes as binary integers, which "
        "costs a worker less to encode; a batch with any other value is "
        "sent in format 2 whatever this says. A collector older than "
        "format 3 refuses such batches and their samples are lost: "
        "upgrade the host's collector first, or keep 2 until it is.",
    ),
]


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """Return the options of this library for oslo-config-generator."""
    return [(GROUP, copy.deepcopy(METRICS_OPTS))]
