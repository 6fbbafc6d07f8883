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
