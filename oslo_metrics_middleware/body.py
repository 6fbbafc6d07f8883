"""Wrappers that count request and response body bytes as they flow."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from typing import IO
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from oslo_metrics_middleware.middleware import Exchange


class CountingInput:
    """``wsgi.input`` as the application sees it, counting what it reads."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size) if size is not None else self._stream.read()
        self.bytes_read += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = (
            self._stream.readline(size) if size is not None else self._stream.readline()
        )
        self.bytes_read += len(data)
        return data

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines = self._stream.readlines(hint)
        self.bytes_read += sum(map(len, lines))
        return lines

    def __iter__(self) -> Iterator[bytes]:
        for line in self._stream:
            self.bytes_read += len(line)
            yield line

    def __getattr__(self, name: str) -> Any:
        # Server-specific extras (gunicorn's, eventlet's) stay reachable.
        return getattr(self._stream, name)


class MeteredBody:
    """The response iterable, timed until the server closes it."""

    __slots__ = ("_body", "_exchange", "_exhausted", "_iterator")

    def __init__(self, body: Iterable[bytes], exchange: Exchange) -> None:
        self._body = body
        self._iterator: Iterator[bytes] | None = None
        self._exchange = exchange
        self._exhausted = False

    def __iter__(self) -> MeteredBody:
        return self

    def __next__(self) -> bytes:
        if self._iterator is None:
            self._iterator = iter(self._body)
        try:
            chunk = next(self._iterator)
        except StopIteration:
            self._exhausted = True
            raise
        except BaseException as exc:
            self._exchange.finish(exc)
            raise
        self._exchange.response_bytes += len(chunk)
        return chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        except BaseException as exc:
            self._exchange.finish(exc)
            raise
        self._exchange.finish(None, closed_early=not self._exhausted)


def read_head(stream: IO[bytes], limit: int) -> bytes:
    """Up to ``limit`` bytes from ``stream``, which may return short reads."""
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        data = stream.read(remaining)
        if not data:
            break
        chunks.append(data)
        remaining -= len(data)
    return b"".join(chunks)


class PeekedInput:
    """``wsgi.input`` whose first bytes were read ahead: served again first."""

    def __init__(self, stream: IO[bytes], head: bytes) -> None:
        self._stream = stream
        self._head = head

    def read(self, size: int | None = -1) -> bytes:
        head = self._take_head(size)
        if size is None or size < 0:
            return head + self._stream.read()
        if len(head) < size:
            # Callers such as WebOb expect a full read while data remains.
            return head + self._stream.read(size - len(head))
        return head

    def readline(self, size: int | None = -1) -> bytes:
        if not self._head:
            return self._stream.readline(size if size is not None else -1)
        end = self._head.find(b"\n") + 1 or len(self._head)
        if size is not None and 0 <= size < end:
            end = size
        line = self._take_head(end)
        if line.endswith(b"\n") or self._head:
            return line
        rest = -1 if size is None or size < 0 else size - len(line)
        return line + self._stream.readline(rest) if rest else line

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def _take_head(self, size: int | None) -> bytes:
        if size is None or size < 0 or size >= len(self._head):
            head, self._head = self._head, b""
        else:
            head, self._head = self._head[:size], self._head[size:]
        return head

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
