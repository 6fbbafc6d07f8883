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

"""``slo rules``: objectives file errors, and the generated rules checked
and unit-tested by promtool itself."""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess

import pytest
import yaml

from oslo_metrics_middleware import assets
from oslo_metrics_middleware import cmd
from oslo_metrics_middleware.report import cli as report_cli
from oslo_metrics_middleware.slo import objectives

OBJECTIVES = """\
[objective:compute-availability]
service = compute
sli = availability
target = 99.9%
window = 28d

[objective:list-latency]
service = compute
method = GET
route = /v2.1/servers/detail
sli = latency
threshold = 250ms
target = 99%
window = 30d

[objective:image-latency]
service = image
sli = latency
threshold = 2.5s
target = 90
"""


def _slo(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str,
                                                                  str]:
    try:
        status = cmd.main(["slo", "rules", *argv])
    except SystemExit as exc:
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (tools/test.sh installs it)")
    return path


def _generate(tmp_path: Path, capsys: pytest.CaptureFixture[str],
              *options: str) -> list[Path]:
    source = tmp_path / "objectives.ini"
    source.write_text(OBJECTIVES)
    status, out, err = _slo(capsys, str(source), "--output-dir",
                            str(tmp_path / "rules"), *options)
    assert status == 0, err
    # A 14.4x burn of a 10% budget would need 144% of requests bad.
    assert err == (
        "oslo-metrics-middleware slo: note: objective image-latency: no "
        "OpenStackAPIErrorBudgetFastBurn: a 14.4x burn of a 10% budget "
        "needs more than every request bad\n")
    return [Path(line) for line in out.splitlines()]


def test_generated_rules_pass_promtool_check_and_their_own_tests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    promtool = _promtool()
    paths = _generate(tmp_path, capsys, "--all-tiers")
    names = [path.name for path in paths]
    assert names == [
        "openstack-api-slo.rules.yaml",
        "openstack-api-slo.fast-burn.test.yaml",
        "openstack-api-slo.slow-burn.test.yaml",
        "openstack-api-slo.daily-burn.test.yaml",
        "openstack-api-slo.steady-burn.test.yaml",
    ]
    rules, *tests = paths
    check = subprocess.run([promtool, "check", "rules", str(rules)],
                           capture_output=True, text=True, timeout=60)
    # 7 windows and 4 alerts each; image-latency has no 1h and 5m
    # windows and no fast-burn alert.
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 30 rules found" in check.stdout
    document = yaml.safe_load(rules.read_text())
    alerts = [(rule["alert"], rule["labels"]["slo"])
              for group in document["groups"] for rule in group["rules"]
              if "alert" in rule]
    assert len(alerts) == 11
    # Every alert is exercised: fires on a burn, silent below it.
    for test in tests:
        cases = yaml.safe_load(test.read_text())["tests"]
        fired = {(case["alert_rule_test"][0]["alertname"],
                  case["alert_rule_test"][0]["exp_alerts"][0]["exp_labels"]
                  ["slo"]) for case in cases
                 if case["alert_rule_test"][0]["exp_alerts"]}
        silent = sum(1 for case in cases
                     if not case["alert_rule_test"][0]["exp_alerts"])
        assert fired and silent >= len(fired) * 2
        alerts = [alert for alert in alerts if alert not in fired]
    assert alerts == []
    run = subprocess.run([promtool, "test", "rules", *map(str, tests)],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr


def test_generated_tests_catch_an_alert_without_its_short_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """The tests can fail: with the 5m ratio read over 1h, a burn that
    stopped keeps the page firing, and the generated test says so."""
    promtool = _promtool()
    rules, fast, *_ = _generate(tmp_path, capsys)
    text = rules.read_text()
    assert text.count("[5m]") == 4
    rules.write_text(text.replace("[5m]", "[1h]"))
    run = subprocess.run([promtool, "test", "rules", str(fast)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "OpenStackAPIErrorBudgetFastBurn" in run.stdout + run.stderr


def test_time_scale_divides_every_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    promtool = _promtool()
    rules, *tests = _generate(tmp_path, capsys, "--time-scale", "60")
    text = rules.read_text()
    document = yaml.safe_load(text)
    records = sorted({rule["record"] for group in document["groups"]
                      for rule in group["rules"] if "record" in rule})
    assert records == [f"slo:openstack_api_request_errors:ratio_rate{w}"
                       for w in ("1m", "30s", "5s", "6m")]
    assert {group["interval"] for group in document["groups"]} == {"1s"}
    assert "[5m]" not in text and "[1h]" not in text
    run = subprocess.run([promtool, "test", "rules", *map(str, tests)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_shipped_sample_gives_rules_that_pass_their_tests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    promtool = _promtool()
    sample = assets.path("prometheus/openstack-api.objectives.ini.sample")
    status, out, err = _slo(capsys, str(sample), "--output-dir",
                            str(tmp_path))
    assert (status, err) == (0, "")
    rules, *tests = (Path(line) for line in out.splitlines())
    assert [o.name for o in objectives.load(sample)] == [
        "compute-availability", "compute-latency",
        "compute-server-list-latency"]
    check = subprocess.run([promtool, "check", "rules", str(rules)],
                           capture_output=True, text=True, timeout=60)
    assert "SUCCESS: 18 rules found" in check.stdout, check.stdout
    run = subprocess.run([promtool, "test", "rules", *map(str, tests)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_existing_files_are_kept_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    rules, *_ = _generate(tmp_path, capsys)
    rules.write_text("mine\n")
    status, out, err = _slo(capsys, str(tmp_path / "objectives.ini"),
                            "--output-dir", str(rules.parent))
    assert (status, out) == (1, "")
    assert err == (f"oslo-metrics-middleware slo: error: {rules} exists "
                   "(--force replaces it)\n")
    assert rules.read_text() == "mine\n"


BUCKETS = ("1ms, 2.5ms, 5ms, 10ms, 25ms, 50ms, 100ms, 250ms, 500ms, 1s, "
           "2.5s, 5s, 10s, 30s, 60s")
GOOD = "[objective:a]\nservice = compute\nsli = latency\ntarget = 99%\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD + "threshold = 300ms\n",
         "[objective:a]: threshold '300ms' is not a bucket bound of "
         f"openstack_api_request_duration_seconds (allowed: {BUCKETS})"),
        (GOOD + "threshold = fast\n",
         "[objective:a]: threshold 'fast' is not a bucket bound of "
         f"openstack_api_request_duration_seconds (allowed: {BUCKETS})"),
        (GOOD, "[objective:a]: threshold is required for sli = latency "
         f"(one of {BUCKETS})"),
        (GOOD.replace("99%", "100%") + "threshold = 1s\n",
         "[objective:a]: target '100%' must lie strictly between 0% and "
         "100%"),
        (GOOD.replace("99%", "0") + "threshold = 1s\n",
         "[objective:a]: target '0' must lie strictly between 0% and 100%"),
        (GOOD.replace("99%", "high") + "threshold = 1s\n",
         "[objective:a]: target 'high' is not a percentage such as 99.9%"),
        (GOOD + "threshold = 1s\nwindow = a month\n",
         "[objective:a]: window 'a month' is not a duration such as 28d, "
         "4w or 720h"),
        (GOOD + "threshold = 1s\nwindow = 1h\n",
         "objective a: window 1h is shorter than the 6h alert window (use "
         "at least that)"),
        (GOOD + "threshold = 1s\ntarge = 99%\n",
         "[objective:a]: unknown key 'targe' (known: service, method, "
         "route, sli, threshold, target, window)"),
        (GOOD + "threshold = 1s\n[objectives:b]\n",
         "unknown section [objectives:b] (objectives are [objective:NAME] "
         "sections)"),
        ("[DEFAULT]\nwindow = 28d\n" + GOOD + "threshold = 1s\n",
         "unknown key 'window' in [DEFAULT] (keys belong in "
         "[objective:NAME])"),
        (GOOD.replace("latency", "uptime"),
         "[objective:a]: sli 'uptime' is not one of availability, latency"),
        (GOOD.replace("latency", "availability") + "threshold = 1s\n",
         "[objective:a]: threshold applies to sli = latency only"),
        (GOOD + "threshold = 1s\nmethod = get\n",
         "[objective:a]: method 'get' is not a method label (allowed: "
         "CONNECT, DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT, TRACE, "
         "other)"),
        (GOOD + "threshold = 1s\nroute =\n",
         "[objective:a]: route is empty (leave it out to cover every "
         "value)"),
        (GOOD.replace("service = compute\n", ""),
         "[objective:a]: service is required"),
        (GOOD.replace("[objective:a]", "[objective:a b]"),
         "[objective:a b]: the name must be letters, digits, '_', '.' or "
         "'-', starting with a letter or digit"),
        ("# nothing yet\n", "no [objective:NAME] section"),
        (GOOD + "threshold = 1s\nthreshold = 2s\n",
         "While reading from"),
    ],
)
def test_bad_objectives_are_one_line_naming_the_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
    message: str,
) -> None:
    source = tmp_path / "objectives.ini"
    source.write_text(text)
    out_dir = tmp_path / "rules"
    status, out, err = _slo(capsys, str(source), "--output-dir",
                            str(out_dir))
    assert (status, out) == (1, "")
    prefix = "oslo-metrics-middleware slo: error: "
    if message.startswith("objective a:"):
        assert err == f"{prefix}{message}\n"
    else:
        assert err.startswith(f"{prefix}objectives {source}: ")
        assert message in err
        assert err.count("\n") == 1
    assert not out_dir.exists()
    # The report reads the same file and says the same.
    assert report_cli.main(["--from-file", str(tmp_path / "none.jsonl"),
                            "--objectives", str(source)]) == 1
    _, report_err = capsys.readouterr()
    if not message.startswith("objective a:"):
        assert report_err == err.replace(
            "oslo-metrics-middleware slo:", "oslo-metrics-middleware report:")


def test_a_missing_objectives_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    missing = tmp_path / "nope.ini"
    status, _, err = _slo(capsys, str(missing), "--output-dir",
                          str(tmp_path))
    assert status == 1
    assert err == (f"oslo-metrics-middleware slo: error: objectives "
                   f"{missing}: No such file or directory\n")
