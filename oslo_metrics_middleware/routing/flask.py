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

"""Flask (keystone): the URL rule of the view that served the request.

Flask keeps the matched rule on its request object, which it parks in
``environ['werkzeug.request']`` while the request runs and replaces with
None when its context pops, before an outer filter sees the response.  So
the rule is remembered during the request: a receiver of Flask's
``request_started`` signal copies ``request.url_rule.rule`` into the
environ, one attribute read per request.  The receiver is connected only
in processes that already imported Flask.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from oslo_metrics_middleware.routing import base
from oslo_metrics_middleware.routing import labels
from oslo_metrics_middleware.routing import template

RULE_KEY = "oslo_metrics_middleware.url_rule"
REQUEST_KEY = "werkzeug.request"

_connected = False
# flask.request, once Flask is imported.
_request: Any = None
_connect_lock = threading.Lock()


def _remember_rule(sender: object, **extra: object) -> None:
    # One trip through Flask's context-local proxy, not one per attribute.
    request = _request._get_current_object()
    rule = request.url_rule
    if rule is not None:
        request.environ[RULE_KEY] = rule.rule


def connect_receiver() -> bool:
    """Listen to Flask's request_started, once per process, if Flask runs."""
    global _connected, _request  # one receiver per process
    if _connected or "flask" not in sys.modules:
        return _connected
    with _connect_lock:
        if not _connected:
            from flask import request
            from flask import signals

            _request = request
            signals.request_started.connect(_remember_rule, weak=False)
            _connected = True
    return True


class FlaskResolver:
    """``/v3/users/<string:user_id>`` becomes ``/v3/users/{user_id}``."""

    # Flask's request object parks itself there, matched or not.
    environ_key = REQUEST_KEY

    def __init__(self) -> None:
        self._templates = base.MountedTemplates(template.clean_flask_rule)
        connect_receiver()

    def resolve(self, environ: dict[str, Any], status: int) -> str | None:
        rule = environ.get(RULE_KEY)
        if rule is None:
            if REQUEST_KEY not in environ:
                return None
            rule = _live_rule(environ[REQUEST_KEY])
            if rule is None:
                # Flask saw the request and matched no rule (404, 405), or
                # Flask was imported after the filter was built.
                connect_receiver()
                return labels.UNMATCHED
        return self._templates.label(environ.get("SCRIPT_NAME", ""), rule)


def _live_rule(request: Any) -> str | None:
    """The rule of a request whose context has not popped yet."""
    url_rule = getattr(request, "url_rule", None)
    rule = getattr(url_rule, "rule", None)
    return rule if isinstance(rule, str) else None
