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

"""The real Placement from PyPI, standalone on SQLite without Keystone.

Shared by tests/functional/test_placement.py and bench/bench_server.py,
whose gunicorn workers each build their own copy from the same file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_config(workdir: Path) -> Path:
    """A configuration file for Placement: ``noauth2`` (the token
    ``admin`` is an admin), its database a file in ``workdir``, created or
    upgraded when the application is built."""
    config_file = workdir / "placement.conf"
    config_file.write_text(
        "[api]\nauth_strategy = noauth2\n"
        f"[placement_database]\nconnection = sqlite:///{workdir / 'placement.db'}\n"
        "sync_on_startup = True\n"
    )
    return config_file


def build(config_file: Path | str) -> Any:
    """Placement's WSGI application, as ``placement.deploy`` builds it."""
    from oslo_config import cfg
    from placement import conf as placement_conf
    from placement import db_api
    from placement import deploy

    conf = cfg.ConfigOpts()
    placement_conf.register_opts(conf)
    conf([], default_config_files=[str(config_file)])
    db_api.configure(conf)
    return deploy.loadapp(conf)
