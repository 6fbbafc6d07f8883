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

"""The real collector's /metrics, asked for as Prometheus asks for it."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.openmetrics.parser import text_string_to_metric_families

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware.collector.process import CollectorProcess
from tests.functional import collectors

# A route the fallback could give, with every character the formats escape.
ODD_ROUTE = '/v1/{id}/"quoted"\\back\nline'
DURATION = "openstack_api_request_duration_seconds"


def test_openmetrics_page_with_exact_buckets_and_exemplars(tmp_path: Path) -> None:
    odd = ("compute", "GET", ODD_ROUTE, 200)
    samples = [
        protocol.sample(*odd, 0.004, 0, 10, request_id="req-a"),
        protocol.sample(*odd, 0.2, 0, 10, request_id="req-b"),
        protocol.sample(*odd, 0.3, 0, 10),
        protocol.sample("compute", "POST", "/v1/x", 500, 61.0, 5, 0),
    ]
    with CollectorProcess(workdir=tmp_path) as collector:
        collectors.send(collector.socket_path, protocol.encode_batch(samples))
        collectors.wait_datagrams(collector, 1)
        body, content_type = collector.scrape_as_prometheus()
    page = body.decode()

    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert page.endswith("# EOF\n") and page.count("# EOF") == 1
    families = {family.name: family for family in text_string_to_metric_families(page)}
    buckets = {
        (sample.labels["route"], sample.labels["le"]): (sample.value, sample.exemplar)
        for sample in families[DURATION].samples
        if sample.name == f"{DURATION}_bucket"
    }
    assert buckets[(ODD_ROUTE, "0.001")] == (0, None)
    value, exemplar = buckets[(ODD_ROUTE, "0.005")]
    assert value == 1 and exemplar.labels == {"request_id": "req-a"}
    assert exemplar.value == 0.004
    value, exemplar = buckets[(ODD_ROUTE, "0.25")]
    assert value == 2 and exemplar.labels == {"request_id": "req-b"}
    assert buckets[(ODD_ROUTE, "0.5")] == (3, None)
    assert buckets[(ODD_ROUTE, "+Inf")][0] == 3
    assert buckets[("/v1/x", "60.0")][0] == 0
    assert buckets[("/v1/x", "+Inf")][0] == 1
    totals = {
        (sample.name, sample.labels["route"]): sample.value
        for sample in families[DURATION].samples
        if sample.name != f"{DURATION}_bucket"
    }
    assert totals[(f"{DURATION}_count", ODD_ROUTE)] == 3
    assert abs(totals[(f"{DURATION}_sum", ODD_ROUTE)] - 0.504) < 1e-9
    assert totals[(f"{DURATION}_sum", "/v1/x")] == 61.0
    # The sizes, and the metrics prometheus_client still writes, are there.
    sizes = families["openstack_api_request_size_bytes"].samples
    assert {s.value for s in sizes if s.name.endswith("_count")} == {3, 1}
    assert "oslo_metrics_collector_datagrams" in families


def test_lone_surrogate_request_ids_leave_every_format_answering(
    tmp_path: Path,
) -> None:
    """A request id no UTF-8 can carry, in format 1 and format 2: every
    way of scraping still answers, and the counts are exact."""
    route = "/v1/{id}"
    format_2 = protocol.encode_batch([
        protocol.sample("compute", "GET", route, 200, 0.004, 0, 10,
                        request_id="\ud800"),
        protocol.sample("compute", "GET", route, 200, 0.2, 0, 10,
                        request_id="req-\udfff-b"),
    ])
    format_1 = collectors.message(
        "openstack_api", protocol.BATCH, "observe",
        {"v": protocol.ROWS_FORMAT_VERSION,
         "rows": [[*collectors.row(route=route, duration=0.3), "\udbff"]]},
        {},
    )
    with CollectorProcess(workdir=tmp_path) as collector:
        collectors.send(collector.socket_path, format_2, format_1)
        collectors.wait_datagrams(collector, 2)
        pages = collectors.parse_every_format(collector)
    for way, families in pages.items():
        samples = [s for f in families if f.name == DURATION for s in f.samples]
        counts = [s.value for s in samples if s.labels.get("le") == "+Inf"]
        assert counts == [3], way
        if way.startswith("openmetrics"):
            ids = sorted(s.exemplar.labels["request_id"]
                         for s in samples if s.exemplar)
            # Not request ids (printable ASCII): left out, counted.
            assert ids == [], way
