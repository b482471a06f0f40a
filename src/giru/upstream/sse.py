"""The legacy HTTP+SSE connector (2024-11-05): one GET stream carries every server message.

The stream's first `endpoint` event names where to POST; it must be on the stream's origin
(SSRF guard). A lost stream fails the calls in flight; the next request reconnects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import structlog
from yarl import URL

from giru.egress.lean import LeanClient
from giru.errors import UpstreamError
from giru.mcp.jsonrpc import dumps
from giru.upstream._calls import Call, Exchange, unavailable
from giru.upstream._handshake import HandshakeState, Negotiated, negotiate
from giru.upstream._http_io import (
    exchange_error,
    iter_events,
    media_type,
    resolve_endpoint,
    status_error,
)
from giru.upstream._sse import SseDecoder
from giru.upstream._tasks import TaskSet
from giru.upstream._wire import MAX_MESSAGE_BYTES, parse_upstream
from giru.upstream.base import ClientIdentity, MessageSink, ServerSpec

__all__ = ["LegacySseSession"]

_log = structlog.get_logger(__name__)


class LegacySseSession(HandshakeState):
    """An `UpstreamSession` over the 2024-11-05 HTTP+SSE transport."""

    def __init__(
        self,
        spec: ServerSpec,
        identity: ClientIdentity,
        *,
        on_unsolicited: MessageSink,
        http: LeanClient,
    ) -> None:
        if not spec.url:
            raise unavailable(spec.name, "sse upstream has no url")
        self._spec, self._url, self._identity, self._http = spec, spec.url, identity, http
        self._tasks = TaskSet(spec.name)
        self._exchange = Exchange(
            spec.name,
            spec.timeouts,
            on_unsolicited=on_unsolicited,
            send=self._send,
            tasks=self._tasks,
        )
        self._endpoint: URL | None = None
        self._stream: asyncio.Task[None] | None = None
        self._negotiated: Negotiated | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def start(self) -> None:
        async with self._lock:
            await self._connect()

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None,
        *,
        on_message: MessageSink | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- an idle timeout that progress resets
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        await self._ensure_connected()
        return await self._exchange.request(
            method, params, on_message=on_message, timeout=timeout, transmit=self._transmit
        )

    async def notify(self, method: str, params: dict[str, Any] | None) -> None:
        await self._ensure_connected()
        await self._notify(method, params)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._exchange.fail_all(unavailable(self.server, "upstream session closed"))
        await self._tasks.aclose()

    # -- connection --------------------------------------------------------------------------

    async def _ensure_connected(self) -> None:
        if self._closed:
            raise unavailable(self.server, "upstream session closed")
        if self._stream is not None and not self._stream.done() and self._negotiated:
            return
        async with self._lock:
            if self._stream is None or self._stream.done() or not self._negotiated:
                await self._connect()

    async def _connect(self) -> None:
        self._negotiated, self._endpoint = None, None
        endpoint: asyncio.Future[URL] = asyncio.get_running_loop().create_future()
        self._stream = self._tasks.spawn(self._run_stream(endpoint), "sse-stream")
        try:
            async with asyncio.timeout(self._spec.timeouts.connect):
                self._endpoint = await endpoint
                self._negotiated = await negotiate(
                    self.server,
                    self._identity,
                    request=self._handshake_request,
                    notify=self._notify,
                    use_modern=None,
                )
        except TimeoutError as exc:
            self._stream.cancel()
            raise unavailable(self.server, "upstream SSE handshake timed out") from exc
        except BaseException:
            self._stream.cancel()
            raise

    async def _handshake_request(
        self, method: str, params: dict[str, Any] | None
    ) -> dict[str, Any]:
        return await self._exchange.request(
            method,
            params,
            on_message=None,
            timeout=self._spec.timeouts.connect,
            transmit=self._transmit,
        )

    async def _run_stream(self, endpoint: asyncio.Future[URL]) -> None:
        try:
            await self._read_stream(endpoint)
            error: UpstreamError = unavailable(self.server, "upstream SSE stream ended")
        except UpstreamError as exc:
            error = exc
        except OSError as exc:  # HttpError, EgressRefusedError, TimeoutError
            error = exchange_error(self.server, exc, "upstream SSE stream failed")
        if not endpoint.done():
            endpoint.set_exception(error)
        self._negotiated = None
        self._exchange.fail_all(error)
        _log.info("upstream SSE stream closed", server=self.server, reason=error.message)

    async def _read_stream(self, endpoint: asyncio.Future[URL]) -> None:
        headers = dict(self._spec.headers) | {"Accept": "text/event-stream"}
        async with self._http.request(
            "GET",
            URL(self._url),
            headers,
            tls=self._spec.tls,
            connect_timeout=self._spec.timeouts.connect,
        ) as response:
            if response.status != 200 or media_type(response) != "text/event-stream":
                raise await status_error(self.server, response)
            decoder = SseDecoder(MAX_MESSAGE_BYTES)
            async for event in iter_events(self.server, response, decoder):
                if event.event == "endpoint" and not endpoint.done():
                    resolved = resolve_endpoint(self.server, self._url, event.data)
                    endpoint.set_result(URL(resolved))
                elif event.event == "message" and event.data:
                    message = parse_upstream(self.server, event.data.encode())
                    await self._exchange.deliver(message)

    # -- outbound ---------------------------------------------------------------------------

    async def _transmit(self, call: Call, message: dict[str, Any]) -> None:
        await self._send(message)

    async def _notify(self, method: str, params: dict[str, Any] | None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self._send(message)

    async def _send(self, message: dict[str, Any]) -> None:
        if self._endpoint is None:
            raise unavailable(self.server, "upstream SSE stream is not connected")
        headers = dict(self._spec.headers) | {"Content-Type": "application/json"}
        try:
            async with self._http.request(
                "POST",
                self._endpoint,
                headers,
                dumps(message),
                tls=self._spec.tls,
                connect_timeout=self._spec.timeouts.connect,
                total_timeout=self._spec.timeouts.connect,
            ) as response:
                if response.status not in (200, 202, 204):
                    raise await status_error(self.server, response)
        except OSError as exc:  # HttpError, EgressRefusedError, TimeoutError
            raise exchange_error(self.server, exc, "could not reach upstream") from exc
