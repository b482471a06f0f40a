"""The HTTP/1.1 connection protocol: uvicorn's httptools protocol plus header limits.

uvicorn arms no timer while a request's headers arrive, so a client dribbling them one byte at a
time holds a connection forever (slowloris, BAD-INPUT H8). Here every request must complete its
headers within `header_timeout_s` of its first byte (or of the connection opening).

uvicorn also takes any number of header lines of any size: a 32 MB header section is read in
full, and every line becomes a pair the application walks before it can answer. Here a request
with more than `max_headers` lines, or whose request line and headers pass `max_header_bytes`, is
answered 431 (RFC 6585) and its connection closed, before the application sees it. This one
server carries both the data path and the control-plane API, so both get the same limits; the
answer's body is JSON-RPC on the data path and problem+json under `/api`.

uvicorn writes a response's head as soon as the app sends `http.response.start` and its body at
the next send: two `write` calls, two syscalls (and two segments) for every JSON answer. Here a
response's head is held until its first body bytes or the end of this turn of the event loop,
whichever is first, so head and body usually leave in one write (issue 15), and a streamed answer
(SSE) still has its head on the wire before the app waits for its first event.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import orjson
from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

__all__ = ["guarded_protocol"]

_TOO_LARGE: Final = "Request Header Fields Too Large"


class _GuardedHttpToolsProtocol(HttpToolsProtocol):
    header_timeout_s: float = 5.0
    max_headers: int = 100
    max_header_bytes: int = 32 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._in_headers = True
        self._header_bytes = 0
        self._header_count = 0
        self._header_size = 0
        self._refused = False

    # uvicorn's own override narrows BaseProtocol's signature the same way; mypy flags both.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._writer = _HeadHolding(transport, self.loop)
        super().connection_made(self._writer)
        self._arm()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        # The response's first write is its head, unless the app may first ask for the body of
        # a request that expects `100 Continue` (that interim answer is never held).
        self._writer.hold_next = not cycle.waiting_for_100_continue
        super()._start_asgi_task(cycle, app)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        # A chunk may end the headers and carry body bytes: only a request still reading its
        # headers past the limit is refused (bytes of a body never count).
        if self._in_headers and self._header_bytes > self.max_header_bytes:
            self._refuse()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._header_count = self._header_size = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        self._header_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # Counted as parsed too: a whole request can arrive in one chunk (the check in
        # `data_received` sees only headers still incomplete at a chunk's end).
        self._header_count += 1
        self._header_size += len(name) + len(value) + 4
        if self._header_count > self.max_headers or self._header_size > self.max_header_bytes:
            self._refuse()
            return
        # uvicorn's own `on_header` (0.54, pinned in uv.lock), inline: no super() call per line.
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._disarm()
        self._in_headers = False
        self._header_bytes = 0
        if self._refused:
            return
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._in_headers = True  # whatever follows on this connection is the next request's

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _refuse(self) -> None:
        """Answer 431 and close; nothing more of this connection is read or handed on."""
        if self._refused:
            return
        self._refused = True
        self._disarm()
        if self.transport.is_closing():
            return
        url: bytes = getattr(self, "url", b"")
        body, media = _refusal_body(url == b"/api" or url.startswith((b"/api/", b"/api?")))
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: " + media + b"\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n"
        )
        self.transport.write(head + body)
        self.transport.close()

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


class _HeadHolding(asyncio.Transport):
    """The connection's transport as its protocol and responses see it: the write after
    `hold_next` is set (a response's head) is held until the next write, which carries it, or
    the end of this turn of the loop; closing sends what is held first."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held = b""
        self.hold_next = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.hold_next:
            self.hold_next = False
            if not self._held:  # else a bodiless answer's head is held and its flush is due
                self._loop.call_soon(self._flush)
            self._held += data
            return
        if self._held:
            data, self._held = self._held + data, b""
        self._transport.write(data)

    def _flush(self) -> None:
        if self._held:
            held, self._held = self._held, b""
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._flush()
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held)

    def abort(self) -> None:
        self._held = b""
        self._transport.abort()


def _refusal_body(api: bool) -> tuple[bytes, bytes]:
    if api:
        problem = {
            "type": "https://giru.dev/problems/headers_too_large",
            "title": _TOO_LARGE,
            "status": 431,
            "detail": "too many request headers, or too many bytes of them",
            "code": "headers_too_large",
        }
        return orjson.dumps(problem), b"application/problem+json"
    error = {"code": -32600, "message": _TOO_LARGE}
    return orjson.dumps({"jsonrpc": "2.0", "id": None, "error": error}), b"application/json"


def guarded_protocol(
    header_timeout_s: float, *, max_headers: int = 100, max_header_bytes: int = 32 * 1024
) -> type[HttpToolsProtocol]:
    """The protocol class to hand uvicorn, with this header deadline and these header limits."""
    return type(
        "GuardedHttpToolsProtocol",
        (_GuardedHttpToolsProtocol,),
        {
            "header_timeout_s": header_timeout_s,
            "max_headers": max_headers,
            "max_header_bytes": max_header_bytes,
        },
    )
