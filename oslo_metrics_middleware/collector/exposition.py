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

"""The collector's /metrics, with the request histograms written directly.

prometheus_client builds a sample object for every line of a histogram,
then sorts and escapes all of its labels again, line by line: at the
label caps that made a scrape take seconds, close to Prometheus' scrape
timeout (doc/source/performance.rst).  A histogram child's labels are the
same on each of its lines, so here they are escaped once per child and
each line is only its bucket bound and its number.

The lines are prometheus_client's own, in both formats it negotiates;
tests/unit/test_collector_exposition.py compares them family by family.
Whatever this module does not write the same way (other metrics, a
``name[]`` selection, the name escapings that rewrite plain names) is left
to prometheus_client.  The histograms it writes are taken out of the registry
so that they are not collected twice; this reads a histogram's children
and buckets (``_metrics``, ``_buckets``, ``_sum``, private to
prometheus_client), and USABLE turns it off where they are missing.

Two promises hold whatever a sender managed to get recorded:

* the page is valid UTF-8: a lone surrogate (which JSON can carry and
  UTF-8 cannot) is written as U+FFFD, so is a double quote in an
  exemplar, and an exemplar longer than OpenMetrics allows is left out, so
  no content can make a scrape fail or a parser refuse the page;
* the page is written in pieces of bounded size, family by family and a
  few histogram children at a time, and compressed piece by piece, so
  that the receive loop (which shares the interpreter with the scrape
  thread) is never held up by one long step, and a page is never held
  in memory whole.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
import copy
import re
from typing import TYPE_CHECKING
from typing import Any
import urllib.parse
import zlib

import prometheus_client
from prometheus_client import exposition
from prometheus_client import metrics
from prometheus_client import utils
from prometheus_client.registry import Collector

from oslo_metrics_middleware.collector import histograms

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIEnvironment

OPENMETRICS = "application/openmetrics-text"
_EOF = b"# EOF\n"
# Accept header escapings under which a valid metric name is written as is
# ("" when none was negotiated).
_PLAIN_NAME_ESCAPINGS = ("", "underscores", "allow-utf-8")
# prometheus_client compresses at level 9, which took as long as writing
# the text; level 1 is about six times faster for a third more bytes.
GZIP_LEVEL = 1
# Counts below this are written by repr(); floatToGoString switches to an
# exponent from here on.
_PLAIN_BELOW = 1e6
# Histogram children written per piece: a few hundred kB at the label
# byte bound, so each step of writing and compressing is short.
CHILDREN_PER_PIECE = 16
# Samples of a family prometheus_client writes per piece, for the same reason.
SAMPLES_PER_PIECE = 256
# Code points a Python str can hold and UTF-8 cannot encode.
_SURROGATES = re.compile("[\ud800-\udfff]")
# OpenMetrics: an exemplar's label names and values, at most this many
# characters together.
MAX_EXEMPLAR_CHARS = 128


def _usable() -> bool:
    """Whether this prometheus_client's histograms have the parts read here."""
    probe = prometheus_client.Histogram("probe", "", ("label",), registry=None)
    return (
        isinstance(getattr(probe, "_metrics", None), dict)
        and hasattr(probe, "_lock")
        and histograms.parts_have("get", "get_exemplar")
    )


USABLE = _usable()
# A number as Go (and so Prometheus) prints it.
go_string: Callable[[float], str] = utils.floatToGoString


def encodable(value: str) -> str:
    """``value`` with U+FFFD for each code point UTF-8 cannot encode."""
    if value.isascii():
        return value
    return _SURROGATES.sub("\ufffd", value)


def escape(value: str) -> str:
    """A label value as both formats quote it, UTF-8 encodable."""
    value = value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return encodable(value)


def _labels(names: Iterable[str], values: dict[str, str]) -> str:
    return ",".join(f'{name}="{escape(values[name])}"' for name in names)


def _number(value: float) -> str:
    if 0 <= value < _PLAIN_BELOW:
        return repr(value)
    return go_string(value)


class HistogramWriter:
    """The lines of one labelled histogram, in either format."""

    def __init__(self, histogram: prometheus_client.Histogram) -> None:
        self.histogram = histogram
        self._name: str = histogram._name
        self._label_names = sorted(histogram._labelnames)
        # prometheus_client sorts "le" in among the other labels.
        position = sum(name < "le" for name in self._label_names)
        self._before_le = self._label_names[:position]
        self._after_le = self._label_names[position:]
        self._le = [
            f'le="{go_string(bound)}"' for bound in histogram._upper_bounds
        ]

    def pieces(self, openmetrics: bool) -> Iterator[str]:
        """The whole family, a few children a piece; exemplars only in
        OpenMetrics, the format that carries them."""
        histogram = self.histogram
        name = self._name
        documentation: str = histogram._documentation
        if openmetrics:
            documentation = escape(documentation)
        else:
            documentation = encodable(
                documentation.replace("\\", r"\\").replace("\n", r"\n")
            )
        yield f"# HELP {name} {documentation}\n# TYPE {name} histogram\n"
        # Only the list of children is taken under the lock that ingest
        # needs to add one; their numbers are read as they are written.
        with histogram._lock:
            children: list[tuple[Sequence[str], Any]] = list(
                histogram._metrics.items()
            )
        for start in range(0, len(children), CHILDREN_PER_PIECE):
            piece = children[start : start + CHILDREN_PER_PIECE]
            yield "".join(self._child(*child, openmetrics) for child in piece)

    def _child(
        self, label_values: Sequence[str], child: Any, openmetrics: bool
    ) -> str:
        name = self._name
        values = dict(zip(self.histogram._labelnames, label_values, strict=True))
        before = "".join(
            f'{label}="{escape(values[label])}",' for label in self._before_le
        )
        after = "".join(
            f',{label}="{escape(values[label])}"' for label in self._after_le
        )
        out = []
        accumulated = 0.0
        for le, bucket in zip(self._le, child._buckets, strict=True):
            accumulated += bucket.get()
            exemplar = _exemplar(bucket.get_exemplar()) if openmetrics else ""
            out.append(
                f"{name}_bucket{{{before}{le}{after}}} "
                f"{_number(accumulated)}{exemplar}\n"
            )
        labels = _labels(self._label_names, values)
        out.append(
            f"{name}_count{{{labels}}} {_number(accumulated)}\n"
            f"{name}_sum{{{labels}}} {go_string(child._sum.get())}\n"
        )
        return "".join(out)


def exemplar_labels(labels: dict[str, str]) -> dict[str, str] | None:
    """Exemplar labels as written: UTF-8 encodable, a double quote as
    U+FFFD (prometheus_client's OpenMetrics parser cannot read an escaped
    one there, and an id with one points to no trace anyway); None when
    longer than OpenMetrics allows (a parser refuses the page)."""
    written = {
        name: encodable(value).replace('"', "\ufffd")
        for name, value in labels.items()
    }
    size = sum(map(len, written)) + sum(map(len, written.values()))
    return written if size <= MAX_EXEMPLAR_CHARS else None


def _exemplar(exemplar: Any) -> str:
    labels = None if exemplar is None else exemplar_labels(exemplar.labels)
    if labels is None:
        return ""
    text = ",".join(
        f'{name}="{escape(value)}"' for name, value in sorted(labels.items())
    )
    text = f" # {{{text}}} {go_string(exemplar.value)}"
    if exemplar.timestamp is not None:
        text += f" {exemplar.timestamp}"
    return text


def _encodable_sample(sample: Any) -> Any:
    labels = {name: encodable(value) for name, value in sample.labels.items()}
    exemplar = sample.exemplar
    if exemplar is not None:
        written = exemplar_labels(exemplar.labels)
        exemplar = None if written is None else exemplar._replace(labels=written)
    return sample._replace(labels=labels, exemplar=exemplar)


class _One:
    """One family, as a collector that prometheus_client's encoders take."""

    def __init__(self, family: Any) -> None:
        self.family = family

    def collect(self) -> list[Any]:
        return [self.family]


def _encode_family(encoder: Callable[[Any], bytes], family: Any) -> bytes:
    """One family as ``encoder`` writes it, whatever its strings."""
    exemplars = [s.exemplar.labels for s in family.samples if s.exemplar]
    if any(exemplar_labels(labels) != labels for labels in exemplars):
        family.samples = [_encodable_sample(s) for s in family.samples]
    try:
        return encoder(_One(family)).removesuffix(_EOF)
    except UnicodeEncodeError:
        # Rare (ingest refuses such labels): cheaper than cleaning every
        # sample of every scrape.
        family.samples = [_encodable_sample(s) for s in family.samples]
        return encoder(_One(family)).removesuffix(_EOF)


def _family_pieces(encoder: Callable[[Any], bytes], family: Any) -> Iterator[bytes]:
    """A family as ``encoder`` writes it, SAMPLES_PER_PIECE samples at a
    time: its HELP and TYPE lines once, in the first piece."""
    samples = family.samples
    for start in range(0, max(len(samples), 1), SAMPLES_PER_PIECE):
        piece = copy.copy(family)
        piece.samples = samples[start : start + SAMPLES_PER_PIECE]
        text = _encode_family(encoder, piece)
        while start and text.startswith(b"# "):
            text = text.partition(b"\n")[2]
        yield text


class _Families:
    """Histograms as prometheus_client's encoders take them, optionally
    only the samples a ``name[]`` selection names (as its registry does)."""

    def __init__(
        self,
        histograms: Iterable[prometheus_client.Histogram],
        names: list[str] | None,
    ) -> None:
        self._histograms = list(histograms)
        self._names = None if names is None else set(names)

    def collect(self) -> Iterator[Any]:
        for histogram in self._histograms:
            for family in histogram.collect():
                if self._names is not None:
                    names = self._names
                    family.samples = [s for s in family.samples if s.name in names]
                    if not family.samples:
                        continue
                yield family


def _names_as_they_are(content_type: str) -> bool:
    """Whether the negotiated escaping leaves plain metric names alone
    (the dots and values schemes rewrite them)."""
    escaping = content_type.partition("escaping=")[2]
    return escaping in _PLAIN_NAME_ESCAPINGS


def _gzipped(pieces: Iterable[bytes], level: int) -> Iterator[bytes]:
    """``pieces`` as one gzip stream, compressed as they come."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for piece in pieces:
        compressed = compressor.compress(piece)
        if compressed:
            yield compressed
    yield compressor.flush()


class MetricsApp:
    """The /metrics WSGI app: prometheus_client's, but for the histograms
    given, which it writes itself."""

    def __init__(
        self,
        registry: prometheus_client.CollectorRegistry,
        histograms: Iterable[prometheus_client.Histogram],
        gzip_level: int = GZIP_LEVEL,
    ) -> None:
        self.registry = registry
        self.gzip_level = gzip_level
        self.writers: list[HistogramWriter] = []
        if USABLE and not metrics._use_created:
            for histogram in histograms:
                # Collected here instead; the stock daemon still has them.
                with contextlib.suppress(KeyError):
                    registry.unregister(histogram)
                self.writers.append(HistogramWriter(histogram))
        self._stock = prometheus_client.make_wsgi_app(registry)

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if (
            environ["REQUEST_METHOD"] != "GET"
            or environ.get("PATH_INFO") == "/favicon.ico"
        ):
            stock: Iterable[bytes] = self._stock(environ, start_response)
            return stock
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        body, content_type = self.render(
            environ.get("HTTP_ACCEPT", ""), query.get("name[]")
        )
        headers = [("Content-Type", content_type)]
        if exposition.gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING", "")):
            body = _gzipped(body, self.gzip_level)
            headers.append(("Content-Encoding", "gzip"))
        start_response("200 OK", headers)
        return body

    def render(
        self, accept: str, names: list[str] | None
    ) -> tuple[Iterator[bytes], str]:
        """The page for an Accept header and a ``name[]`` selection, in
        pieces written as they are read, and its content type, as
        prometheus_client negotiates them."""
        encoder, content_type = exposition.choose_encoder(accept)
        return self._pieces(encoder, content_type, names), content_type

    def _pieces(
        self,
        encoder: Callable[[Any], bytes],
        content_type: str,
        names: list[str] | None,
    ) -> Iterator[bytes]:
        registry: Collector = self.registry
        if names is not None:
            registry = self.registry.restricted_registry(names)
        for family in registry.collect():
            yield from _family_pieces(encoder, family)
        if names is None and _names_as_they_are(content_type):
            openmetrics = content_type.startswith(OPENMETRICS)
            for writer in self.writers:
                for piece in writer.pieces(openmetrics):
                    yield piece.encode()
        else:
            histograms = (writer.histogram for writer in self.writers)
            for family in _Families(histograms, names).collect():
                yield from _family_pieces(encoder, family)
        if content_type.startswith(OPENMETRICS):
            yield _EOF
