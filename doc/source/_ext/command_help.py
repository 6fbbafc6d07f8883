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

"""``.. command-help:: report``: a command's --help output, as it is.

The option reference of each command comes from its parser, so it cannot
drift from the code.
"""

from __future__ import annotations

import contextlib
import io
import os
from typing import Any
from unittest import mock

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

from oslo_metrics_middleware import cmd


def help_text(command: str) -> str:
    """What ``oslo-metrics-middleware COMMAND --help`` prints."""
    out = io.StringIO()
    # argparse wraps to the terminal; the page should not depend on it.
    with (mock.patch.dict(os.environ, {"COLUMNS": "68"}),
          contextlib.redirect_stdout(out), contextlib.suppress(SystemExit)):
        cmd.main([command, "--help"])
    return out.getvalue()


class CommandHelp(SphinxDirective):
    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        text = help_text(self.arguments[0])
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("command-help", CommandHelp)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
