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
import os
from pathlib import Path
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from oslo_metrics_middleware import assets
from oslo_metrics_middleware import opts as filter_opts
from oslo_metrics_middleware import socket_trust
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


def test_unit_takes_a_private_runtime_directory_for_the_default_socket() -> None:
    service = _unit()
    assert (service["User"], service["Group"]) == ("oslo-metrics", "oslo-metrics")
    assert service["RuntimeDirectory"] == "oslo-metrics"
    assert service["RuntimeDirectoryMode"] == "0750"
    # The spool in it must outlive a stop of the collector.
    assert service["RuntimeDirectoryPreserve"] == "yes"
    assert service["LimitNOFILE"] == "65536"
    # The default socket of both the collector and the filter is in it.
    socket_path = options.UPSTREAM_OPTS[0].default
    assert options.UPSTREAM_OPTS[0].name == "metrics_socket_file"
    assert os.path.dirname(socket_path) == "/run/" + service["RuntimeDirectory"]
    assert socket_path == filter_opts.DEFAULT_SOCKET
    assert service["User"] == socket_trust.DEFAULT_OWNER


def _written_unit(tmp_path: Path) -> Path:
    assets.write(tmp_path)
    return tmp_path / assets.UNIT


def test_written_unit_runs_this_installations_command(tmp_path: Path) -> None:
    unit = _written_unit(tmp_path)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(unit)
    command = shlex.split(parser["Service"]["ExecStart"])
    assert command[0] == str(Path(sys.executable).parent / "oslo-metrics-middleware")
    version = subprocess.run(
        [command[0], "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout == f"oslo-metrics-middleware {_setup_version()}\n"


def test_written_unit_falls_back_to_the_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An interpreter without the console script beside it, in a path
    # with a space that systemd must not split.
    bare = tmp_path / "my venv" / "bin" / "python"
    monkeypatch.setattr(sys, "executable", str(bare))
    assert assets.installed_command() == (
        f'"{bare}" -m oslo_metrics_middleware.cmd'
    )
    unit = _written_unit(tmp_path / "out").read_text()
    assert (
        f'ExecStart="{bare}" -m oslo_metrics_middleware.cmd collector '
        "--config-file /etc/oslo-metrics/collector.conf\n"
    ) in unit


def _setup_version() -> str:
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    return setup["metadata"]["version"]


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="the systemd package is not installed (tools/test.sh installs it)",
)
def test_written_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # Works without a running systemd: it loads the unit file alone and
    # checks every key and that ExecStart's program is executable.
    unit = _written_unit(tmp_path)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True, text=True, timeout=60,
    )
    assert (result.returncode, result.stderr, result.stdout) == (0, "", "")


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="the systemd package is not installed (tools/test.sh installs it)",
)
def test_systemd_analyze_verify_finds_a_broken_unit(tmp_path: Path) -> None:
    # The check above can fail: an unknown key and a missing program.
    unit = _written_unit(tmp_path)
    text = unit.read_text().replace(
        "LimitNOFILE=", "LimitNOFILES="
    ).replace(str(Path(sys.executable).parent), "/nonexistent")
    unit.write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert f"{unit}:" in result.stderr
    assert "Unknown key 'LimitNOFILES' in section [Service]" in result.stderr
    assert (
        "Command /nonexistent/oslo-metrics-middleware is not executable"
        in result.stderr
    )


@pytest.mark.skipif(
    shutil.which("systemd-sysusers") is None,
    reason="the systemd package is not installed (tools/test.sh installs it)",
)
def test_sysusers_file_creates_the_units_user_and_group(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    for name in ("passwd", "group", "shadow", "gshadow"):
        (etc / name).write_text("")
    sysusers = assets.path("sysusers.d/oslo-metrics.conf")
    subprocess.run(
        ["systemd-sysusers", f"--root={tmp_path}", str(sysusers)],
        capture_output=True, check=True, timeout=60,
    )
    [user] = (etc / "passwd").read_text().splitlines()
    [group] = (etc / "group").read_text().splitlines()
    name, _, uid, gid, gecos, home, shell = user.split(":")
    assert (name, gecos, home, shell) == (
        _unit()["User"], "OpenStack API metrics collector", "/", "/usr/sbin/nologin"
    )
    assert group.split(":")[:3] == [_unit()["Group"], "x", gid]
    assert int(uid) < 1000  # a system user
