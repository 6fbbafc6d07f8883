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

"""Wrappers that count request and response body bytes as they flow.

Each wrapper passes every call on in the shape the application or the
server made it: ``read()`` stays ``read()``, never ``read(-1)``, because
servers give the two different meanings (eventlet and cheroot read the
socket to its end for ``-1`` on a kept-alive connection).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
import os
from typing import IO
from typing import Any
from typing import Protocol


class Exchange(Protocol):
    """What the wrappers need of the request they measure: its response
    byte count and the call that ends it (the filter's ``Exchange``).

    Declared here so that this module imports nothing of the filter.
    """

    response_bytes: int

    def finish(
        self, exception: BaseException | None, closed_early: bool = False
    ) -> None: ...


class CountingInput:
    """``wsgi.input`` as the application sees it, counting what it reads."""

    __slots__ = ("_stream", "bytes_read")

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.bytes_read = 0

    def read(self, *size: Any) -> bytes:
        data: bytes = self._stream.read(*size)
        self.bytes_read += len(data)
        return data

    def readline(self, *size: Any) -> bytes:
        data: bytes = self._stream.readline(*size)
        self.bytes_read += len(data)
        return data

    def readlines(self, *hint: Any) -> list[bytes]:
        lines: list[bytes] = self._stream.readlines(*hint)
        self.bytes_read += sum(map(len, lines))
        return lines

    def __iter__(self) -> Iterator[bytes]:
        for line in self._stream:
            self.bytes_read += len(line)
            yield line

    def __getattr__(self, name: str) -> Any:
        # Server-specific extras (gunicorn's, eventlet's) stay reachable.
        return getattr(self._stream, name)


class HeadKeepingInput(CountingInput):
    """Also keeps the first bytes the application reads, for the action.

    Nothing is read ahead of the application: a read ahead could block on
    a body the application never wanted, fail before the application runs,
    or make the server send ``100 Continue`` that the application would
    not have asked for.
    """

    __slots__ = ("_limit", "head")

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        super().__init__(stream)
        self._limit = limit
        self.head = b""

    def _keep(self, data: bytes) -> None:
        missing = self._limit - len(self.head)
        if missing > 0:
            self.head += data[:missing]

    def read(self, *size: Any) -> bytes:
        data = super().read(*size)
        self._keep(data)
        return data

    def readline(self, *size: Any) -> bytes:
        data = super().readline(*size)
        self._keep(data)
        return data

    def readlines(self, *hint: Any) -> list[bytes]:
        lines = super().readlines(*hint)
        self._keep(b"".join(lines[:self._limit]))
        return lines

    def __iter__(self) -> Iterator[bytes]:
        for line in super().__iter__():
            self._keep(line)
            yield line


# What next() gives MeteredBody at the end of the application's body.
_END: Any = object()


class MeteredBody:
    """The response iterable, timed until the server closes it.

    ``__iter__`` is a generator: Python resumes one for each chunk at a
    fraction of the cost of calling a ``__next__`` method, and ends it
    without raising StopIteration.
    """

    __slots__ = ("_body", "_exchange", "_exhausted")

    def __init__(self, body: Iterable[bytes], exchange: Exchange) -> None:
        self._body = body
        self._exchange = exchange
        self._exhausted = False

    def __iter__(self) -> Iterator[bytes]:
        exchange = self._exchange
        try:
            # Inside the try: an __iter__ that raises is the app's error
            # (a 500), not a client that went away.
            chunks = iter(self._body)
        except BaseException as exc:
            exchange.finish(exc)
            raise
        while True:
            try:
                # The end comes as a sentinel: catching the app's
                # StopIteration costs more than the rest of the loop.
                chunk = next(chunks, _END)
            except BaseException as exc:
                exchange.finish(exc)
                raise
            if chunk is _END:
                self._exhausted = True
                return
            exchange.response_bytes += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        except BaseException as exc:
            self._exchange.finish(exc)
            raise
        self._exchange.finish(None, not self._exhausted)


class SizedMeteredBody(MeteredBody):
    """A metered body whose length the server may ask for.

    wsgiref and waitress set Content-Length for a one-block body they can
    take the length of; hiding ``__len__`` would turn that into chunking.
    """

    __slots__ = ()

    def __iter__(self) -> Iterator[bytes]:
        # Each pass starts afresh: eventlet takes a sized body twice, once
        # to sum its length and once to send it.
        self._exhausted = False
        self._exchange.response_bytes = 0
        return MeteredBody.__iter__(self)

    def __len__(self) -> int:
        return len(self._body)  # type: ignore[arg-type]


class TimedFile:
    """The file an application hands to the server's ``wsgi.file_wrapper``.

    The server's wrapper object goes back to the server untouched, so it
    still recognises it and sends the file with ``sendfile``; the request
    is timed until the server closes the wrapper, which closes this file.
    Everything else (``fileno``, ``seek``, ``tell``) reaches the real file.
    """

    __slots__ = ("_exchange", "_file", "_start")

    def __init__(self, filelike: Any, exchange: Exchange) -> None:
        self._file = filelike
        self._exchange = exchange
        self._start = _position(filelike)

    def read(self, *size: Any) -> bytes:
        data: bytes = self._file.read(*size)
        self._exchange.response_bytes += len(data)
        return data

    def close(self) -> None:
        exchange = self._exchange
        if not exchange.response_bytes:
            # Sent with sendfile: nothing was read through here.
            exchange.response_bytes = _bytes_after(self._file, self._start)
        try:
            close = getattr(self._file, "close", None)
            if close is not None:
                close()
        except BaseException as exc:
            exchange.finish(exc)
            raise
        exchange.finish(None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def _position(filelike: Any) -> int | None:
    try:
        return int(filelike.tell())
    except Exception:  # not seekable, or no tell(): sizes stay unknown
        return None


def _bytes_after(filelike: Any, start: int | None) -> int:
    """Bytes of the file from ``start`` to its end, 0 when unknown."""
    if start is None:
        return 0
    try:
        return max(0, os.fstat(filelike.fileno()).st_size - start)
    except Exception:  # no descriptor: the size stays unknown
        return 0
