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
