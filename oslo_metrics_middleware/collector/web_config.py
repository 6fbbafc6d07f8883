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

"""TLS and basic authentication for /metrics, from a web configuration file.

The file is YAML in the layout the Prometheus exporters read with
``--web.config.file``, limited to what this collector does::

    tls_server_config:
      cert_file: /etc/oslo-metrics/metrics.crt
      key_file: /etc/oslo-metrics/metrics.key
    basic_auth_users:
      prometheus: $2b$12$...   # a bcrypt hash

Relative paths are taken from the file's directory.  A key this module
does not know is an error that names it, so a setting an operator expects
(client certificates, say) is never silently left out.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from collections.abc import Mapping
import dataclasses
import hashlib
import hmac
from pathlib import Path
import ssl
import threading
from typing import TYPE_CHECKING
from typing import Any

import bcrypt
import yaml

from oslo_metrics_middleware.collector.options import StartupError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

TOP_KEYS = ("tls_server_config", "basic_auth_users")
TLS_KEYS = ("cert_file", "key_file")
REALM = "oslo-metrics-middleware collector"


@dataclasses.dataclass(frozen=True)
class WebConfig:
    """What a web configuration file asks for; empty asks for nothing."""

    cert_file: Path | None = None
    key_file: Path | None = None
    users: Mapping[str, bytes] = dataclasses.field(default_factory=dict)

    def tls(self) -> ssl.SSLContext | None:
        """The server's TLS context, if TLS is configured."""
        if self.cert_file is None or self.key_file is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise StartupError(
                f"cannot load TLS certificate {self.cert_file} and key "
                f"{self.key_file}: {exc}"
            ) from None
        return context

    def protect(self, app: WSGIApplication) -> WSGIApplication:
        """``app``, behind basic authentication if users are configured."""
        return BasicAuth(app, self.users) if self.users else app


def load(path: str) -> WebConfig:
    """Read and check a web configuration file; "" means none."""
    if not path:
        return WebConfig()
    try:
        with open(path, encoding="utf-8") as file:
            content = yaml.safe_load(file)
    except OSError as exc:
        raise StartupError(f"cannot read web config {path}: {exc.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise StartupError(f"web config {path} is not YAML: {first}") from None
    content = {} if content is None else content
    where = f"web config {path}"
    _check_keys(content, TOP_KEYS, where)
    tls = content.get("tls_server_config") or {}
    _check_keys(tls, TLS_KEYS, f"{where}: tls_server_config")
    if tls and set(tls) != set(TLS_KEYS):
        raise StartupError(
            f"{where}: tls_server_config needs both cert_file and key_file"
        )
    users = content.get("basic_auth_users") or {}
    _check_keys(users, None, f"{where}: basic_auth_users")
    directory = Path(path).parent
    config = WebConfig(
        cert_file=directory / str(tls["cert_file"]) if tls else None,
        key_file=directory / str(tls["key_file"]) if tls else None,
        users={
            str(user): _hash(user, value, f"{where}: basic_auth_users")
            for user, value in users.items()
        },
    )
    config.tls()  # a certificate that does not load fails start-up
    return config


def _check_keys(content: Any, known: Iterable[str] | None, where: str) -> None:
    if not isinstance(content, dict):
        raise StartupError(f"{where}: expected a mapping")
    if known is None:
        return
    unknown = sorted(map(str, set(content) - set(known)))
    if unknown:
        raise StartupError(
            f"{where}: unknown key {', '.join(unknown)} "
            f"(known: {', '.join(known)})"
        )


def _hash(user: Any, value: Any, where: str) -> bytes:
    hashed = str(value).encode()
    try:
        bcrypt.checkpw(b"", hashed)
    except ValueError:
        raise StartupError(
            f"{where}: the password of {user} is not a bcrypt hash"
        ) from None
    return hashed


class BasicAuth:
    """A WSGI layer answering 401 unless the request has the credentials
    of one of ``users`` (user name to bcrypt hash)."""

    def __init__(self, app: WSGIApplication, users: Mapping[str, bytes]) -> None:
        self._app = app
        self._users = dict(users)
        # bcrypt is slow on purpose; Prometheus sends the same header on
        # every scrape, so the digest of the last one accepted per user is
        # kept (one entry per user, whatever clients send).
        self._accepted: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if self._allowed(environ.get("HTTP_AUTHORIZATION", "")):
            return self._app(environ, start_response)
        start_response(
            "401 Unauthorized",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"'),
            ],
        )
        return [b"Unauthorized\n"]

    def _allowed(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user_bytes, colon, password = decoded.partition(b":")
        user = user_bytes.decode("utf-8", "replace")
        hashed = self._users.get(user)
        if not colon or hashed is None:
            return False
        digest = hashlib.sha256(decoded).digest()
        with self._lock:
            known = self._accepted.get(user)
        if known is not None and hmac.compare_digest(known, digest):
            return True
        if not bcrypt.checkpw(password, hashed):
            return False
        with self._lock:
            self._accepted[user] = digest
        return True
