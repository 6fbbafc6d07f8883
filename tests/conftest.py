"""Fixtures shared by the test suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from oslo_metrics_middleware import assets
from oslo_metrics_middleware import transport
from oslo_metrics_middleware.collector.process import CollectorProcess

REPO = Path(__file__).resolve().parent.parent
PASTE_SAMPLE = assets.path(assets.PASTE_SAMPLE)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProcess]:
    """A real collector (upstream oslo.metrics daemon + our metrics)."""
    process = CollectorProcess(workdir=tmp_path)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(autouse=True, scope="session")
def _nothing_held_at_exit() -> Iterator[None]:
    """Filters built in this process send to sinks gone by the end: no grace."""
    yield
    transport.flush(timeout=0)
