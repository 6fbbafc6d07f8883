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

"""The option list, its generated sample and its documentation agree."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

from oslo_metrics_middleware import assets
from oslo_metrics_middleware import opts

REPO = Path(__file__).resolve().parents[2]


def test_list_opts_names_the_group_and_every_option() -> None:
    [(group, listed)] = opts.list_opts()
    assert group == "oslo_metrics_middleware"
    assert [opt.name for opt in listed] == [opt.name for opt in opts.METRICS_OPTS]
    assert listed[0] is not opts.METRICS_OPTS[0]


def test_the_configuration_reference_is_generated_from_every_option() -> None:
    reference = (REPO / "doc/source/configuration.rst").read_text()
    assert ".. show-options:: oslo_metrics_middleware\n" in reference
    for opt in opts.METRICS_OPTS:
        assert len(opt.help.split()) >= 5, opt.name


def test_generated_sample_is_up_to_date(tmp_path: Path) -> None:
    generated = tmp_path / "sample.conf"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "oslo_config.generator",
            "--namespace",
            "oslo_metrics_middleware",
            "--output-file",
            str(generated),
        ],
        check=True,
    )
    shipped = assets.path("oslo-metrics-middleware.conf.sample")
    assert generated.read_text() == shipped.read_text()
