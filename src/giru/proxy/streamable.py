"""Legacy-era Streamable HTTP (2025-03-26 .. 2025-11-25): sessions, POST as JSON or SSE, GET."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Final

import structlog

from giru.mcp import jsonrpc, sse, versions
from giru.mcp.jsonrpc import INVALID_REQUEST, JsonRpcError, Message
from giru.proxy.context import CallContext
from giru.proxy.endpoints import Principal
from giru.proxy.http import (
    Request,
    Send,
    send_bytes,
    send_json,
    send_rpc_error,
    send_sse_event,
    send_sse_start,
)
from giru.proxy.mrtr import required_capability
from giru.proxy.sessions import EventStream, Session
from giru.upstream.base import MessageSink

__all__ = [
    "SESSION_HEADER",
    "LegacyHttp",
    "check_version_header",
    "relay_to",
    "send_legacy_error",
    "stream_events",
]

_log = structlog.get_logger(__name__)
SESSION_HEADER: Final = "mcp-session-id"
_PRIMING_FROM: Final = "2025-11-25"
ContextFactory = Callable[[Session, MessageSink | None, Principal | None], CallContext]
"""(session, relay, the principal this request authenticated as) -> the call's context"""
Dispatch = Callable[[CallContext, Message], Awaitable[dict[str, Any]]]


class LegacyHttp:
    """Answers legacy-era POST and GET; creating sessions is the gateway's (it knows views)."""

    def __init__(
        self,
        *,
        dispatch: Dispatch,
        context: ContextFactory,
        retry_ms: int,
        forward: Callable[[Session, Message], Awaitable[None]] | None = None,
    ) -> None:
        self._forward = forward
        self._dispatch = dispatch
        self._context = context
        self._retry_ms = retry_ms

    async def post(
        self,
        request: Request,
        send: Send,
        session: Session,
        message: Message,
        principal: Principal | None = None,
    ) -> None:
        check_version_header(request, session)
        if message.kind == "notification":
            await self._notification(session, message)
            await send_bytes(send, 202, b"", content_type=None)
        elif message.kind == "response":
            if not session.answer(message):
                raise JsonRpcError(INVALID_REQUEST, "response to no pending request")
            await send_bytes(send, 202, b"", content_type=None)
        else:
            await self._request(request, send, session, message, principal)

    async def _notification(self, session: Session, message: Message) -> None:
        if message.method == "notifications/initialized":
            session.initialized = True
        elif message.method == "notifications/cancelled":
            session.cancel_request((message.params or {}).get("requestId"))
        elif message.method == "notifications/roots/list_changed" and self._forward is not None:
            await self._forward(session, message)  # to the session's own upstream sessions

    async def _request(
        self,
        request: Request,
        send: Send,
        session: Session,
        message: Message,
        principal: Principal | None,
    ) -> None:
        key = message.id_key
        if not session.initialized and message.method != "ping":  # M3: lifecycle first
            raise JsonRpcError(
                INVALID_REQUEST,
                "Bad Request: send notifications/initialized before other requests",
                id=message.id,
            )
        if session.seen(key):
            raise JsonRpcError(INVALID_REQUEST, "request id already used in this session")
        if request.header("last-event-id") is not None:
            raise JsonRpcError(INVALID_REQUEST, "Last-Event-ID is not allowed on POST")
        reply = _Reply(send, session, self._retry_ms)
        ctx = self._context(session, reply.relay, principal)
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - ASGI always runs a request in a task
            raise RuntimeError("a request must run in a task")
        session.inflight[key] = task
        session.remember(key)
        try:
            response = await self._dispatch(ctx, message)
        except asyncio.CancelledError:
            if key not in session.client_cancelled:
                raise  # shutdown, not the client
            session.client_cancelled.discard(key)
            task.uncancel()
            await reply.close()  # a cancelled request gets no JSON-RPC response
            return
        finally:
            session.inflight.pop(key, None)
        await reply.answer(response)

    async def get(self, request: Request, send: Send, session: Session) -> None:
        """The standalone stream, or a resumed one when Last-Event-ID names a stream of ours."""
        check_version_header(request, session)
        last = request.header("last-event-id")
        if last is not None:
            stream, after = _resumable(session, last)
            await stream_events(request, send, session, stream, after, self._retry_ms)
            return
        if session.listener is not None and not session.listener.closed:
            await session.listener.close()  # one standalone stream per session: newest wins
        session.listener = session.open_stream()
        await stream_events(request, send, session, session.listener, 0, self._retry_ms)


class _Reply:
    """How one POSTed request is answered: plain JSON, unless the upstream sends something
    first (progress, a server->client request), which turns the reply into an SSE stream
    whose events are kept for resumption with Last-Event-ID. No task per request."""

    def __init__(self, send: Send, session: Session, retry_ms: int) -> None:
        self._send = send
        self._session = session
        self._retry_ms = retry_ms
        self._stream: EventStream | None = None

    async def relay(self, message: dict[str, Any]) -> Any:
        return await relay_to(self._session, await self._open(), message)

    async def answer(self, response: dict[str, Any]) -> None:
        if self._stream is None:
            await send_json(self._send, 200, response)
            return
        await self._stream.push(jsonrpc.dumps(response))
        await self.close()

    async def close(self) -> None:
        stream = await self._open()
        await stream.close()
        with contextlib.suppress(OSError, RuntimeError):
            await self._send({"type": "http.response.body", "body": b""})

    async def _open(self) -> EventStream:
        if self._stream is None:
            stream = self._stream = self._session.open_stream()
            await send_sse_start(self._send)
            if self._session.protocol_version >= _PRIMING_FROM:
                prime = sse.encode_event(b"", id=stream.event_id(0), retry_ms=self._retry_ms)
                await self._send({"type": "http.response.body", "body": prime, "more_body": True})
            stream.writer = self._write
        return self._stream

    async def _write(self, seq: int, data: bytes) -> None:
        if self._stream is not None:
            await send_sse_event(self._send, data, event_id=self._stream.event_id(seq))


def check_version_header(request: Request, session: Session) -> None:
    """MCP-Protocol-Version, when sent, must be one we support (S5)."""
    header = request.header("mcp-protocol-version")
    if header is not None:
        versions.legacy_version(header)  # 400 -32022 with data.supported (docs eras.md 2.2)


def _resumable(session: Session, last_event_id: str) -> tuple[EventStream, int]:
    stream_id, _, seq = last_event_id.partition(".")
    stream = session.streams.get(stream_id)
    if stream is None or not seq.isdigit():
        raise JsonRpcError(INVALID_REQUEST, "Last-Event-ID does not name a stream of this session")
    return stream, int(seq)


async def relay_to(session: Session, stream: EventStream, message: dict[str, Any]) -> Any:
    if "id" in message and "method" in message:
        needed = required_capability(message["method"])
        if needed is not None and needed not in session.client_capabilities:
            # never ask a client for what it did not declare: it would not answer (hang)
            return jsonrpc.error_response(
                message["id"],
                jsonrpc.METHOD_NOT_FOUND,
                f"the client did not declare the {needed} capability",
            )
        return await session.ask_client(stream, message)
    await stream.push(jsonrpc.dumps(message))
    return None


async def stream_events(
    request: Request,
    send: Send,
    session: Session,
    stream: EventStream,
    after: int,
    retry: int,
    *,
    started: bool = False,
) -> None:
    """Write `stream` as SSE until it closes or the client goes away (which cancels nothing)."""
    if not started:
        await send_sse_start(send)
    if not started and after == 0 and session.protocol_version >= _PRIMING_FROM:
        prime = sse.encode_event(b"", id=stream.event_id(0), retry_ms=retry)
        await send({"type": "http.response.body", "body": prime, "more_body": True})

    async def pump() -> None:
        async for seq, data in stream.follow(after):
            await send_sse_event(send, data, event_id=stream.event_id(seq))

    pumping = asyncio.get_running_loop().create_task(pump())
    watching = asyncio.get_running_loop().create_task(request.wait_disconnect())
    try:
        await asyncio.wait({pumping, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pumping, watching):
            task.cancel()
        await asyncio.gather(pumping, watching, return_exceptions=True)
    if pumping.done() and not pumping.cancelled() and pumping.exception() is None:
        with contextlib.suppress(OSError, RuntimeError):
            await send({"type": "http.response.body", "body": b""})


async def send_legacy_error(send: Send, exc: JsonRpcError) -> None:
    await send_rpc_error(send, exc.http_status, exc.code, exc.message, id=exc.id, data=exc.data)
