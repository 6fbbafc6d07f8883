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

"""/metrics as the collector writes it equals prometheus_client's own."""

from __future__ import annotations

from collections.abc import Iterator
import gzip
from typing import Any

import prometheus_client
from prometheus_client import metrics
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client.samples import Exemplar
import pytest

from oslo_metrics_middleware.collector import exposition
from oslo_metrics_middleware.collector.process import PROMETHEUS_ACCEPT
from tests import wsgi

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
# Label values a route or an exception name may carry, escapes included.
ODD_VALUES = ['/v2/{id}', 'quote"d', "back\\slash", "new\nline", "ünïcode", ""]
ACCEPTS = [
    "",
    PROMETHEUS_ACCEPT,
    "application/openmetrics-text",
    "text/plain;version=1.0.0;escaping=allow-utf-8",
    "application/openmetrics-text;version=1.0.0;escaping=values",
    "application/openmetrics-text;version=1.0.0;escaping=dots",
]


@pytest.fixture(autouse=True)
def _no_created() -> Iterator[None]:
    # As the collector runs (daemon.py turns them off).
    was = metrics._use_created
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    yield
    metrics._use_created = was


def _fill(registry: prometheus_client.CollectorRegistry) -> list[Any]:
    """Histograms with labels that sort before and after "le", and one
    without a child; a counter is registered too."""
    durations = prometheus_client.Histogram(
        "api_duration_seconds",
        'Time, with a "quote", a back\\slash\nand a new line.',
        ("service", "method", "route", "status"),
        buckets=(0.001, 0.5, 2.5),
        registry=registry,
    )
    actions = prometheus_client.Histogram(
        "api_action_seconds",
        "By action.",
        ("service", "action", "microversion", "route"),
        buckets=(10.0, 1e7),
        registry=registry,
    )
    empty = prometheus_client.Histogram(
        "api_unused_bytes", "No child yet.", ("service",), registry=registry
    )
    requests = prometheus_client.Counter(
        "api_other", "Not a histogram.", ("service",), registry=registry
    )
    for number, value in enumerate(ODD_VALUES):
        child = durations.labels("compute", "GET", value, str(200 + number))
        child.observe(0.0004 * number)
        # A quote is the one character an exemplar is written without
        # (test_a_double_quote_in_an_exemplar_is_a_replacement_character).
        child.observe(1.5, {"request_id": f"req-{value}".replace('"', "'")})
        actions.labels("compute", value, "2.1", "/x").observe(3.0)
    many = actions.labels("compute", "many", "", "/y")
    for _ in range(3):
        many._buckets[0].inc(600_000)
        many._sum.inc(1e9 / 3)
    requests.labels("compute").inc()
    return [durations, actions, empty]


def _call(
    app: Any, method: str = "GET", path: str = "/metrics", **extra: str
) -> dict[str, Any]:
    """The status, headers and body ``app`` answers."""
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer["status"] = status
        answer["headers"] = headers

    answer["body"] = b"".join(app(wsgi.environ(method, path, **extra), start_response))
    return answer


def _get(app: Any, accept: str = "", query: str = "", encoding: str = "") -> Any:
    return _call(
        app, QUERY_STRING=query, HTTP_ACCEPT=accept, HTTP_ACCEPT_ENCODING=encoding
    )


def _families(body: bytes) -> list[str]:
    """The families of an exposition, each as its text, in name order."""
    text = body.decode()
    assert text.count("# EOF\n") <= 1
    blocks = text.removesuffix("# EOF\n").split("# HELP ")
    assert blocks[0] == ""
    return sorted(blocks[1:])


def _both_ways() -> tuple[Any, Any]:
    """The app and prometheus_client's, on the same metrics (the same
    exemplar timestamps)."""
    ours = prometheus_client.CollectorRegistry()
    histograms = _fill(ours)
    stock = prometheus_client.CollectorRegistry()
    for collector in [*histograms, *ours._collector_to_names]:
        if collector not in stock._collector_to_names:
            stock.register(collector)
    app = exposition.MetricsApp(ours, histograms)
    return app, prometheus_client.make_wsgi_app(stock)


@pytest.mark.parametrize("accept", ACCEPTS)
def test_every_family_as_prometheus_client_writes_it(accept: str) -> None:
    app, stock = _both_ways()
    ours, theirs = _get(app, accept), _get(stock, accept)
    assert ours["status"] == theirs["status"] == "200 OK"
    assert ours["headers"] == theirs["headers"]
    assert _families(ours["body"]) == _families(theirs["body"])
    assert len(_families(ours["body"])) == 4
    assert ours["body"].endswith(b"# EOF\n") == theirs["body"].endswith(b"# EOF\n")


def test_the_histograms_are_written_here_not_by_prometheus_client() -> None:
    registry = prometheus_client.CollectorRegistry()
    histograms = _fill(registry)
    app = exposition.MetricsApp(registry, histograms)
    assert [writer.histogram for writer in app.writers] == histograms
    # Collected once: the registry keeps only the counter.
    assert [family.name for family in registry.collect()] == ["api_other"]
    body = _get(app, PROMETHEUS_ACCEPT)["body"].decode()
    assert body.count("# TYPE api_duration_seconds histogram\n") == 1
    # An exemplar, a count past 1e6 and an escaped route, as written.
    assert (
        'api_duration_seconds_bucket{le="2.5",method="GET",route="quote\\"d",'
        'service="compute",status="201"} 2.0 # {request_id="req-quote\'d"} 1.5 '
    ) in body
    assert (
        'api_action_seconds_bucket{action="many",le="10.0",microversion="",'
        'route="/y",service="compute"} 1.8e+06\n'
    ) in body
    assert 'api_action_seconds_sum{action="many",microversion="",route="/y",' in body


@pytest.mark.parametrize(
    "query",
    [
        "name[]=api_duration_seconds_count",
        "name[]=api_other_total&name[]=api_action_seconds_bucket",
        "name[]=api_duration_seconds",
        "name[]=nothing",
    ],
)
@pytest.mark.parametrize("accept", ["", PROMETHEUS_ACCEPT])
def test_a_name_selection_gives_what_prometheus_client_gives(
    query: str, accept: str
) -> None:
    app, stock = _both_ways()
    ours, theirs = _get(app, accept, query), _get(stock, accept, query)
    assert _families(ours["body"]) == _families(theirs["body"])


def test_gzip_when_asked() -> None:
    app, stock = _both_ways()
    ours = _get(app, PROMETHEUS_ACCEPT, encoding="gzip")
    theirs = _get(stock, PROMETHEUS_ACCEPT, encoding="gzip")
    assert ours["headers"] == theirs["headers"]
    assert ("Content-Encoding", "gzip") in ours["headers"]
    assert _families(gzip.decompress(ours["body"])) == _families(
        gzip.decompress(theirs["body"])
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [("OPTIONS", "/metrics"), ("POST", "/"), ("GET", "/favicon.ico")],
)
def test_other_requests_answered_as_prometheus_client_does(
    method: str, path: str
) -> None:
    app, stock = _both_ways()
    assert _call(app, method, path) == _call(stock, method, path)


def test_with_created_series_left_to_prometheus_client() -> None:
    prometheus_client.enable_created_metrics()  # type: ignore[no-untyped-call]
    registry = prometheus_client.CollectorRegistry()
    app = exposition.MetricsApp(registry, _fill(registry))
    assert app.writers == []
    assert "api_duration_seconds_created" in _get(app)["body"].decode()


@pytest.mark.parametrize("accept", ACCEPTS)
def test_written_in_pieces_the_page_is_the_same(
    accept: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, stock = _both_ways()
    whole = _get(app, accept, "name[]=api_duration_seconds_bucket")["body"]
    monkeypatch.setattr(exposition, "SAMPLES_PER_PIECE", 2)
    monkeypatch.setattr(exposition, "CHILDREN_PER_PIECE", 1)
    for query in ("", "name[]=api_duration_seconds_bucket"):
        pieces = list(app(wsgi.environ("GET", "/metrics", QUERY_STRING=query,
                                       HTTP_ACCEPT=accept), lambda *a: None))
        assert len(pieces) > 10
        theirs = _get(stock, accept, query)["body"]
        assert _families(b"".join(pieces)) == _families(theirs)
    assert b"".join(pieces) == whole


def test_strings_utf_8_cannot_carry_are_written_as_replacement_characters() -> None:
    registry = prometheus_client.CollectorRegistry()
    histograms = _fill(registry)
    durations, _, _ = histograms
    durations.labels("compute", "GET", "/\ud800", "200").observe(
        0.1, {"request_id": "req-\udfff"})
    prometheus_client.Counter(
        "api_odd", "Odd.", ("label",), registry=registry
    ).labels("\udbff\n").inc()
    app = exposition.MetricsApp(registry, histograms)
    for accept in ACCEPTS:
        for query in ("", "name[]=api_duration_seconds_bucket&name[]=api_odd_total"):
            # Valid UTF-8 (strict decoding), with the replacement characters.
            body = _get(app, accept, query)["body"].decode("utf-8")
            assert "\ufffd" in body
    page = _get(app, PROMETHEUS_ACCEPT)["body"].decode()
    assert (
        'route="/\ufffd",service="compute",status="200"} 1.0 '
        '# {request_id="req-\ufffd"} 0.1'
    ) in page
    assert 'api_odd_total{label="\ufffd\\n"} 1.0' in page


def test_an_exemplar_longer_than_openmetrics_allows_is_left_out() -> None:
    registry = prometheus_client.CollectorRegistry()
    durations = prometheus_client.Histogram(
        "api_long_seconds", "Long.", ("route",), buckets=(1.0,), registry=registry
    )
    durations.labels("/a").observe(0.5, {"request_id": "x" * 118})
    # As ingest records exemplars (prometheus_client's observe checks).
    durations.labels("/b").observe(0.5)
    durations.labels("/b")._buckets[0].set_exemplar(
        Exemplar({"request_id": "x" * 119}, 0.5, 1.0)
    )
    app = exposition.MetricsApp(registry, [durations])
    for query in ("", "name[]=api_long_seconds_bucket"):
        page = _get(app, PROMETHEUS_ACCEPT, query)["body"].decode()
        assert page.count("# {request_id=") == 1, page
        assert 'route="/a"} 1.0 # {request_id="' + "x" * 118 in page


def test_a_double_quote_in_an_exemplar_is_a_replacement_character() -> None:
    """prometheus_client's OpenMetrics parser cannot read an escaped one."""
    registry = prometheus_client.CollectorRegistry()
    durations = prometheus_client.Histogram(
        "api_quoted_seconds", "Q.", ("route",), buckets=(1.0,), registry=registry
    )
    durations.labels('/"a"').observe(0.5, {"request_id": 'req-"1"\\'})
    app = exposition.MetricsApp(registry, [durations])
    for query in ("", "name[]=api_quoted_seconds_bucket"):
        page = _get(app, PROMETHEUS_ACCEPT, query)["body"].decode()
        [family] = openmetrics_parser.text_string_to_metric_families(page)
        [exemplar] = [s.exemplar for s in family.samples if s.exemplar]
        assert exemplar.labels == {"request_id": "req-\ufffd1\ufffd\\"}
        assert {s.labels["route"] for s in family.samples} == {'/"a"'}
