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

"""The collector's shipped files agree with its code."""

from __future__ import annotations

import configparser
from pathlib import Path
import re
import shlex
import subprocess
import sys

import pytest

from oslo_metrics_middleware import assets
from oslo_metrics_middleware.collector import options

REPO = Path(__file__).resolve().parents[2]


def _unit() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(assets.path("oslo-metrics-collector.service"))
    return parser["Service"]


def test_unit_waits_for_readiness_and_restarts_on_failure() -> None:
    service = _unit()
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert service["Restart"] == "on-failure"
    assert shlex.split(service["ExecStart"])[1:] == [
        "collector", "--config-file", "/etc/oslo-metrics/collector.conf",
    ]


def test_deployment_guide_shows_the_unit_and_every_option() -> None:
    guide = (REPO / "doc/source/deployment.rst").read_text()
    assert "Type=notify" in guide
    assert _unit()["ExecStart"] in guide
    for group, opts in options.list_opts():
        for opt in opts:
            assert f"``{opt.name}``" in guide, (group, opt.name)


def test_generated_sample_is_up_to_date(tmp_path: Path) -> None:
    generated = tmp_path / "collector.conf"
    subprocess.run(
        [sys.executable, "-m", "oslo_config.generator",
         "--namespace", "oslo_metrics_middleware.collector",
         "--output-file", str(generated)],
        check=True,
    )
    shipped = assets.path("collector.conf.sample")
    assert generated.read_text() == shipped.read_text()


def test_every_option_of_the_sample_and_of_oslo_log_is_accepted(
    tmp_path: Path,
) -> None:
    sample = assets.path("collector.conf.sample").read_text()
    text = re.sub(r"^#(\w+ = )", r"\1", sample, flags=re.MULTILINE).replace(
        "[DEFAULT]\n",
        # logfile: oslo.log's deprecated name of log_file.
        "[DEFAULT]\ndebug = true\nlogfile = /var/log/c.log\nuse_stderr = false\n",
    )
    config = tmp_path / "collector.conf"
    config.write_text(text)
    conf, settings = options.load(["--config-file", str(config)])
    assert conf.debug is True
    assert conf.log_file == "/var/log/c.log"
    assert settings.socket_path == "/run/oslo-metrics/metrics_collector.sock"
    assert settings.port == 3000
    assert settings.limits.max_routes == 1000


def test_unknown_names_are_refused_before_any_value_is_used(
    tmp_path: Path,
) -> None:
    config = tmp_path / "collector.conf"
    config.write_text("[oslo_metrics]\nprometheus_port = 99999\n[oslo_metric]\n")
    with pytest.raises(options.StartupError) as raised:
        options.load(["--config-file", str(config)])
    assert str(raised.value) == (
        f"unknown section [oslo_metric] in {config} (did you mean oslo_metrics?)"
    )
