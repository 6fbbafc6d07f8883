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

"""``oslo_metrics_collector_series``: what drives memory and scrape time."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from types import ModuleType

import prometheus_client
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics import MetricWrapperBase


class SeriesCount:
    """``oslo_metrics_collector_series``: label sets held, per metric."""

    def __init__(self, modules: Iterable[ModuleType]) -> None:
        self._modules = list(modules)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "oslo_metrics_collector_series",
            "Label sets the collector holds, per metric.",
            labels=("metric",),
        )
        for metric in labelled_metrics(self._modules):
            # prometheus_client keeps a metric's children in _metrics.
            family.add_metric((metric._name,), len(metric._metrics))
        yield family


def labelled_metrics(modules: Iterable[ModuleType]) -> Iterator[MetricWrapperBase]:
    """The metrics with labels that ``modules`` define, each once."""
    seen: set[int] = set()
    for module in modules:
        for item in vars(module).values():
            if (
                isinstance(item, MetricWrapperBase)
                and item._labelnames
                and id(item) not in seen
            ):
                seen.add(id(item))
                yield item


def histograms(modules: Iterable[ModuleType]) -> list[prometheus_client.Histogram]:
    """The histograms with labels that ``modules`` define."""
    return [
        metric
        for metric in labelled_metrics(modules)
        if isinstance(metric, prometheus_client.Histogram)
    ]


def register(modules: Iterable[ModuleType]) -> None:
    """Serve the label-set count of every metric in ``modules``."""
    prometheus_client.REGISTRY.register(SeriesCount(modules))
