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

"""The one progress bar of the report and the demo."""

from __future__ import annotations

import io

from oslo_metrics_middleware.report.progress import ProgressBar


def test_bar_redraws_in_place_and_ends_its_line() -> None:
    out = io.StringIO()
    bar = ProgressBar("  sending", out, width=10, unit="requests")
    bar(0, 4)
    bar(2, 4)
    bar(4, 4)
    bar.finish()
    assert out.getvalue() == (
        "\r  sending [..........] 0/4 requests"
        "\r  sending [#####.....] 2/4 requests"
        "\r  sending [##########] 4/4 requests\n"
    )


def test_bar_without_unit_or_total() -> None:
    out = io.StringIO()
    bar = ProgressBar("querying", out, width=4)
    bar(0, 0)
    bar.finish()
    assert out.getvalue() == "\rquerying [....] 0/0\n"


def test_finish_writes_nothing_when_never_drawn() -> None:
    out = io.StringIO()
    ProgressBar("querying", out).finish()
    assert out.getvalue() == ""
