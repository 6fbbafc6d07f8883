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

"""Sphinx configuration of the oslo-metrics-middleware documentation."""

from __future__ import annotations

from pathlib import Path
import sys

# The local extension that renders each command's --help.
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

project = "oslo-metrics-middleware"
copyright = "oslo-metrics-middleware contributors"  # noqa: A001
extensions = [
    "oslo_config.sphinxext",
    "command_help",
]
exclude_patterns = ["_build"]
root_doc = "index"
html_theme = "alabaster"
html_theme_options = {"page_width": "1040px"}
