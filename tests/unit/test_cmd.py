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

"""The command line: usage per subcommand, help texts, the assets command."""

from __future__ import annotations

import configparser
from pathlib import Path
import re
import sys

import pytest

from oslo_metrics_middleware import assets
from oslo_metrics_middleware import cmd

REPO = Path(__file__).resolve().parents[2]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        status = cmd.main(list(argv))
    except SystemExit as exc:
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize(
    ("argv", "usage", "message"),
    [
        (["demo", "--bogus"], "usage: oslo-metrics-middleware demo ",
         "oslo-metrics-middleware demo: error: unrecognized arguments: --bogus"),
        (["demo", "--requests", "0"], "usage: oslo-metrics-middleware demo ",
         "oslo-metrics-middleware demo: error: argument --requests: "
         "must be at least 1: 0"),
        (["assets", "--bogus"], "usage: oslo-metrics-middleware assets ",
         "oslo-metrics-middleware assets: error: unrecognized arguments: "
         "--bogus"),
        (["--verbose"], "usage: oslo-metrics-middleware [-h] [--version] COMMAND",
         "oslo-metrics-middleware: error: unrecognized arguments: --verbose"),
        ([], "usage: oslo-metrics-middleware [-h] [--version] COMMAND",
         "oslo-metrics-middleware: error: a command is required"),
        (["nosuch"], "usage: oslo-metrics-middleware [-h] [--version] COMMAND",
         "oslo-metrics-middleware: error: argument COMMAND: invalid choice"),
    ],
)
def test_errors_show_the_usage_of_the_command_that_got_them(
    capsys: pytest.CaptureFixture[str], argv: list[str], usage: str,
    message: str,
) -> None:
    status, out, err = _run(capsys, *argv)
    assert status == 2
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith(usage)
    assert lines[-1].startswith(message)
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("collector", "Receive the oslo.metrics datagrams of every API process"),
        ("demo", "Start a collector and a sample compute API"),
        ("assets", "Print the installed paths of the files operators"),
        ("report", "Per-endpoint latency, errors, busy time and capacity"),
        ("paste", "add: put the metrics filter first in every pipeline"),
        ("slo", "rules: read an objectives file and write"),
    ],
)
def test_each_command_help_says_what_it_does(
    capsys: pytest.CaptureFixture[str], command: str, says: str
) -> None:
    status, out, _ = _run(capsys, command, "--help")
    assert status == 0
    assert out.startswith(f"usage: oslo-metrics-middleware {command} ")
    assert says in " ".join(out.split())


def test_top_level_help_lists_every_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = _run(capsys, "--help")
    assert status == 0
    for command in ("collector", "demo", "report", "assets", "paste", "slo"):
        assert re.search(rf"^    {command}\s+\S", out, re.MULTILINE), command


EXPECTED_ASSETS = [
    "api-paste.ini.sample",
    "collector.conf.sample",
    "grafana/openstack-api-endpoints.json",
    "oslo-metrics-collector.service",
    "oslo-metrics-middleware.conf.sample",
    "prometheus/openstack-api.alerts.yaml",
    "prometheus/openstack-api.objectives.ini.sample",
    "prometheus/openstack-api.rules.test.yaml",
    "prometheus/openstack-api.rules.yaml",
    "sysusers.d/oslo-metrics.conf",
]


def test_assets_prints_the_path_of_every_shipped_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = _run(capsys, "assets")
    assert status == 0
    assert out.splitlines() == [str(assets.ROOT / n) for n in EXPECTED_ASSETS]
    assert all(Path(line).is_file() for line in out.splitlines())


def test_assets_write_copies_them_and_keeps_existing_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, _ = _run(capsys, "assets", "--write", str(tmp_path))
    assert status == 0
    assert out.splitlines() == [str(tmp_path / n) for n in EXPECTED_ASSETS]
    for name in EXPECTED_ASSETS:
        shipped = assets.path(name).read_bytes()
        if name == assets.UNIT:  # runs this installation's command
            shipped = shipped.replace(
                b"ExecStart=/usr/bin/oslo-metrics-middleware ",
                f"ExecStart={Path(sys.executable).parent}/"
                "oslo-metrics-middleware ".encode(),
            )
        assert (tmp_path / name).read_bytes() == shipped

    edited = tmp_path / "collector.conf.sample"
    edited.write_text("mine\n")
    status, out, err = _run(capsys, "assets", "--write", str(tmp_path))
    assert status == 1
    assert out == ""
    assert err == (
        "oslo-metrics-middleware assets: error: "
        f"{tmp_path / EXPECTED_ASSETS[0]} exists (and {len(EXPECTED_ASSETS) - 1} "
        "more); "
        "use --force to replace them\n"
    )
    assert edited.read_text() == "mine\n"

    status, _, _ = _run(capsys, "assets", "--write", str(tmp_path), "--force")
    assert status == 0
    assert edited.read_bytes() == assets.path(edited.name).read_bytes()


def test_assets_write_to_an_unwritable_place_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    status, _, err = _run(capsys, "assets", "--write", str(blocker / "sub"))
    assert status == 1
    assert err.startswith(f"oslo-metrics-middleware assets: error: cannot write "
                          f"{blocker / 'sub'}: ")
    assert len(err.splitlines()) == 1


def test_unknown_asset_name_is_an_error() -> None:
    with pytest.raises(assets.AssetError, match=r"no such asset: nope\.conf"):
        assets.path("nope.conf")


def test_demo_without_its_extra_says_how_to_install_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in a wheel installed without [demo]: Paste and Routes are absent.
    monkeypatch.delitem(sys.modules, "oslo_metrics_middleware.demo.driver",
                        raising=False)
    monkeypatch.setitem(sys.modules, "paste.deploy", None)
    status, out, err = _run(capsys, "demo", "--requests", "1")
    assert status == 1
    assert out == ""
    assert err == (
        "oslo-metrics-middleware demo: error: paste.deploy is not installed; "
        "the demo needs the demo extra: "
        "pip install 'oslo-metrics-middleware[demo]'\n"
    )


def test_version_is_the_installed_distributions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    status, out, _ = _run(capsys, "--version")
    assert status == 0
    assert out == f"oslo-metrics-middleware {setup['metadata']['version']}\n"


def test_collector_version_is_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    status, out, _ = _run(capsys, "collector", "--version")
    assert status == 0
    assert out == f"{setup['metadata']['version']}\n"
