"""The HTTP/1.1 connection protocol: uvicorn's httptools protocol plus a header read deadline.

uvicorn arms no timer while a request's headers arrive, so a client dribbling them one byte at a
time holds a connection forever (slowloris, BAD-INPUT H8). Here every request must complete its
headers within `header_timeout_s` of its first byte (or of the connection opening).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["guarded_protocol"]


class _GuardedHttpToolsProtocol(HttpToolsProtocol):
    header_timeout_s: float = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    # uvicorn's own override narrows BaseProtocol's signature the same way; mypy flags both.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _expired(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def guarded_protocol(header_timeout_s: float) -> type[HttpToolsProtocol]:
    """The protocol class to hand uvicorn, with this header deadline."""
    return type(
        "GuardedHttpToolsProtocol",
        (_GuardedHttpToolsProtocol,),
        {"header_timeout_s": header_timeout_s},
    )
