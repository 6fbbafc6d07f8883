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

"""Fixtures shared by the test suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from oslo_metrics_middleware import assets
from oslo_metrics_middleware import lifecycle
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
    lifecycle.flush(timeout=0)
