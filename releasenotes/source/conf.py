"""Sphinx configuration of the release notes (reno)."""

project = "oslo-metrics-middleware release notes"
copyright = "oslo-metrics-middleware contributors"  # noqa: A001
extensions = ["reno.sphinxext"]
exclude_patterns = ["_build"]
root_doc = "index"
html_theme = "alabaster"
