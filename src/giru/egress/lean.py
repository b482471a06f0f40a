"""A lean keep-alive HTTP/1.1 client for the upstream MCP connectors (asyncio + httptools).

Every new connection goes through `checked_addresses` (the egress guard) and connects to a
checked address; TLS verifies the URL's host name. A redirect is never followed: its answer
raises `RedirectRefusedError` (as `egress.refuse_redirect` does for aiohttp sessions). A
connection goes back to its origin's bounded idle pool only when its answer was read to the
end and both sides keep it alive; after an error, a half-read body, `Connection: close` or a
cancelled request it is closed. Failures raise `HttpError` (an
`OSError`, like `EgressRefusedError` and `TimeoutError`); no header value reaches a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Final, Self, cast

import httptools
from yarl import URL

from giru.egress.addresses import Resolve, checked_addresses, system_resolve
from giru.egress.guard import REDIRECTS, AddressPolicy, EgressRefusedError, RedirectRefusedError

__all__ = ["Headers", "HttpError", "LeanClient", "LeanResponse"]

_HIGH_WATER: Final = 256 * 1024
"""Unread body bytes past which a connection stops reading from its socket (back-pressure)."""
_MAX_HEAD_BYTES: Final = 64 * 1024
"""An answer's status line and headers together; past this the answer is refused (what an
upstream sends is read into memory, so nothing of it is unbounded)."""
_IDLE_S: Final = 15.0
"""An idle connection older than this is closed rather than reused (servers time them out)."""


class HttpError(OSError):
    """An HTTP exchange that failed: no connection, a broken or malformed answer."""


class _RefusedError(EgressRefusedError, HttpError):
    pass


class _RedirectError(RedirectRefusedError, HttpError):
    pass


class Headers(dict[str, str]):
    """Response headers by lowercase name; lookups ignore case (repeats are joined by ", ")."""

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())


class _Connection(asyncio.Protocol):
    """One socket and the answer being read from it (httptools calls the `on_*` methods)."""

    def __init__(self, key: tuple[object, ...]) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.idle_since = 0.0
        self._headers = Headers()
        self._name = ""
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._head: asyncio.Future[None] | None = None
        self._head_bytes = 0
        self._wake: asyncio.Future[None] | None = None
        self.complete = False
        self.keep_alive = False
        self.error: BaseException | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self._head is None or self.complete:  # bytes nobody asked for: not reusable
            self._fail(HttpError("upstream sent bytes outside an answer"))
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpError(f"malformed HTTP answer from upstream ({type(exc).__name__})"))
            return
        if not self._head.done():  # every byte so far belongs to the head
            self._head_bytes += len(data)
            if self._head_bytes > _MAX_HEAD_BYTES:
                self._fail(HttpError("upstream answer's headers exceed the size limit"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.complete and self._delimited_by_close():
            self.complete = True  # an answer without a length ends when its connection does
            self._wakeup()
        elif not self.complete:
            self._fail(HttpError("upstream closed the connection"))

    def _delimited_by_close(self) -> bool:
        head = self._head is not None and self._head.done() and self.error is None
        framed = "content-length" in self._headers or "transfer-encoding" in self._headers
        return head and not framed

    # -- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:  # a second answer to one request
            self._fail(HttpError("upstream sent bytes outside an answer"))

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        previous = self._headers.get(key)
        dict.__setitem__(self._headers, key, text if previous is None else f"{previous}, {text}")

    def on_headers_complete(self) -> None:
        if self._head is not None and not self._head.done():
            self._head.set_result(None)

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and self.transport is not None and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        self._wakeup()

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()  # False once the parser resets
        self.complete = True
        self._wakeup()

    # -- used by LeanClient and LeanResponse -------------------------------------------------

    @property
    def reusable(self) -> bool:
        return (
            self.complete
            and self.error is None
            and self.transport is not None
            and not self._chunks
            and self.keep_alive
        )

    def send(self, data: bytes) -> asyncio.Future[None]:
        """Write a request; the future is done when its answer's head has arrived."""
        assert self.transport is not None
        self.parser = httptools.HttpResponseParser(self)
        self._headers, self.complete, self.keep_alive = Headers(), False, False
        self._head_bytes = 0
        self._head = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self._head

    def status(self) -> tuple[int, Headers]:
        return self.parser.get_status_code(), self._headers

    async def next_chunk(self) -> bytes | None:
        """The next body bytes, or None at the end of the body."""
        while not self._chunks:
            if self.complete:
                return None
            if self.error is not None:
                raise self.error
            self._wake = asyncio.get_running_loop().create_future()
            await self._wake
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered <= _HIGH_WATER // 4 and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return chunk

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()
            self.transport = None

    def _fail(self, error: HttpError) -> None:
        if self.error is None:
            self.error = error
        if self._head is not None and not self._head.done():
            self._head.set_exception(error)
        self._wakeup()
        self.close()

    def _wakeup(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)


class LeanResponse:
    """An answer's status and headers; its body is read with `read` or `iter_chunks`."""

    __slots__ = ("_connection", "headers", "status", "url")

    def __init__(self, url: URL, connection: _Connection) -> None:
        self.url = url
        self.status, self.headers = connection.status()
        self._connection = connection

    @property
    def content_type(self) -> str:
        """The media type, lowercase, without parameters (`application/octet-stream` if none)."""
        value = self.headers.get("content-type")
        if not value:
            return "application/octet-stream"
        return value.partition(";")[0].strip().lower()

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.isdigit() else None

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives."""
        while (chunk := await self._connection.next_chunk()) is not None:
            yield chunk

    async def read(self) -> bytes:
        """The whole body (callers check `content_length` against their cap first)."""
        return b"".join([chunk async for chunk in self.iter_chunks()])

    def release(self) -> None:
        """Give up on the rest of the body: the connection is closed, not reused."""
        if not self._connection.complete:
            self._connection.close()


class LeanClient:
    """Keep-alive HTTP/1.1 connections to upstreams, opened only where `policy` allows.

    Args:
        policy: Where connections may go (judged on every new connection).
        max_idle: Idle connections kept per origin (and TLS context); more are closed.
        max_active: Exchanges in flight at once, over all origins; more wait for a turn (as
            the aiohttp connector's `limit`).
        resolve: Resolves names before the policy judges the answer (default: the system's).
    """

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        max_idle: int = 32,
        max_active: int = 256,
        resolve: Resolve | None = None,
    ) -> None:
        self._policy = policy
        self._max_idle = max_idle
        self._active = asyncio.Semaphore(max_active)
        self._resolve = resolve or system_resolve
        self._idle: dict[tuple[object, ...], list[_Connection]] = {}
        self._default_tls: ssl.SSLContext | None = None
        self._closed = False

    @contextlib.asynccontextmanager
    async def request(
        self,
        method: str,
        url: URL,
        headers: dict[str, str],
        body: bytes | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        connect_timeout: float,
        total_timeout: float | None = None,
    ) -> AsyncIterator[LeanResponse]:
        """Send one request; the answer's head is yielded, its body read inside the block.

        Args:
            tls: The TLS context for an https URL (default: the system's trust, verified).
            connect_timeout: Bounds resolving, connecting and the TLS handshake.
            total_timeout: Bounds the whole exchange, body included (None: unbounded).
        """
        data = _encode(method, url, headers, body)
        async with asyncio.timeout(total_timeout), self._active:
            connection = await self._connection(url, tls, connect_timeout)
            try:
                await connection.send(data)
                response = LeanResponse(url, connection)
                location = response.headers.get("location")
                if response.status in REDIRECTS and location is not None:
                    raise _RedirectError(str(url), response.status, location)
                yield response
            finally:
                self._release(connection)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every idle connection; the client opens no more."""
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    async def _connection(
        self,
        url: URL,
        tls: ssl.SSLContext | None,
        timeout: float,  # noqa: ASYNC109 -- the connect timeout, not the exchange's
    ) -> _Connection:
        if self._closed:
            raise HttpError("the upstream HTTP client is closed")
        context = self._tls(tls) if url.scheme == "https" else None
        key = (url.scheme, url.raw_host, url.port, context)
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.reusable and now - connection.idle_since < _IDLE_S:
                return connection
            connection.close()
        async with asyncio.timeout(timeout):
            return await self._open(key, url, context)

    async def _open(
        self, key: tuple[object, ...], url: URL, context: ssl.SSLContext | None
    ) -> _Connection:
        host, port = url.raw_host or "", url.port or 0
        try:
            addresses = await checked_addresses(self._policy, host, port, self._resolve)
        except EgressRefusedError as exc:
            raise _RefusedError(exc.target, exc.reason) from exc
        except OSError as exc:
            raise HttpError(f"could not resolve upstream host {host}") from exc
        loop = asyncio.get_running_loop()
        failure: OSError | None = None
        for address in addresses:
            try:
                _, connection = await loop.create_connection(
                    lambda: _Connection(key),
                    address,
                    port,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                )
            except OSError as exc:
                failure = exc
            else:
                return connection
        raise HttpError(f"could not connect to upstream {host}:{port}") from failure

    def _release(self, connection: _Connection) -> None:
        if not connection.reusable or self._closed:
            connection.close()
            return
        idle = self._idle.setdefault(connection.key, [])
        if len(idle) >= self._max_idle:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        idle.append(connection)

    def _tls(self, tls: ssl.SSLContext | None) -> ssl.SSLContext:
        if tls is not None:
            return tls
        if self._default_tls is None:
            self._default_tls = ssl.create_default_context()
        return self._default_tls


def _encode(method: str, url: URL, headers: dict[str, str], body: bytes | None) -> bytes:
    """The request's bytes; a header name or value that would split the head is refused."""
    lines = [f"{method} {url.raw_path_qs} HTTP/1.1", f"Host: {_host(url)}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    head = "\r\n".join(lines)
    if not head.count("\r") == head.count("\n") == len(lines) - 1:
        raise HttpError("a request header contains a line break")
    encoded = f"{head}\r\n\r\n".encode()
    return encoded + body if body is not None else encoded


def _host(url: URL) -> str:
    host = url.raw_host or ""
    if ":" in host:
        host = f"[{host}]"
    return host if url.is_default_port() else f"{host}:{url.port}"
