"""The 2024-11-05 HTTP+SSE transport: GET opens the session stream, POST /messages gets 202."""

from __future__ import annotations

import asyncio
import time
from typing import Any, NoReturn, Protocol
from urllib.parse import parse_qs

from giru.mcp import jsonrpc, sse, versions
from giru.mcp.jsonrpc import INVALID_REQUEST, JsonRpcError, Message, ParseLimits
from giru.proxy.checks import check_post_media
from giru.proxy.context import CallContext
from giru.proxy.dispatch import Dispatcher
from giru.proxy.endpoints import GLOBAL, Endpoint, Principal
from giru.proxy.gate import identified
from giru.proxy.http import (
    BodyTooLargeError,
    Request,
    Send,
    send_bytes,
    send_json,
    send_sse_start,
)
from giru.proxy.reconnects import ReconnectGuard
from giru.proxy.sessions import EventStream, Session, SessionStore
from giru.proxy.streamable import relay_to, stream_events
from giru.proxy.trail import Arrival, answering, current_trail, finishing, open_trail
from giru.settings import Settings
from giru.telemetry.metrics import Metrics
from giru.telemetry.tracing import Tracing
from giru.upstream.base import MessageSink

__all__ = ["Entrance", "LegacySse", "session_id_from_query"]


class Entrance(Protocol):
    """What the gateway does for every request before a transport's own part."""

    settings: Settings
    tracing: Tracing | None

    async def authenticate(
        self, request: Request, endpoint: Endpoint, send: Send, tail: str = ""
    ) -> Principal | None: ...

    def session_context(
        self, session: Session, relay: MessageSink | None, arrived: Principal | None = None
    ) -> CallContext: ...

    async def audit_foreign_session(
        self, principal: Principal, endpoint: Endpoint, kind: str, refused: JsonRpcError
    ) -> NoReturn: ...


def session_id_from_query(request: Request) -> str:
    values = parse_qs(request.query.decode("latin-1")).get("sessionId") or []
    if len(values) != 1 or not values[0].isascii() or len(values[0]) > 128:
        raise JsonRpcError(INVALID_REQUEST, "Bad Request: sessionId query parameter is required")
    return values[0]


class LegacySse:
    def __init__(
        self,
        dispatcher: Dispatcher,
        sessions: SessionStore,
        metrics: Metrics,
        entrance: Entrance,
        limits: ParseLimits,
    ) -> None:
        self._dispatcher = dispatcher
        self._sessions = sessions
        self._metrics = metrics
        self._entrance = entrance
        self._limits = limits
        self._reconnects = ReconnectGuard()

    async def open(self, request: Request, send: Send, endpoint: Endpoint) -> None:
        principal = await self._entrance.authenticate(request, endpoint, send, "sse")
        if principal is None or await self.refuse_storm(principal, send):
            return
        session = self._sessions.create(
            owner=principal.name,
            principal=principal,
            endpoint=endpoint.name,
            transport="sse",
            protocol_version="2024-11-05",
            client_capabilities={},
            client_info={},
        )
        if session is None:
            raise JsonRpcError(jsonrpc.INTERNAL_ERROR, "too many sessions", http_status=503)
        messages = "/messages" if endpoint.name == GLOBAL else f"{endpoint.path}/messages"
        self._metrics.sessions.labels("sse").inc()
        try:
            await self._open_stream(request, send, session, messages)
        finally:
            self._metrics.sessions.labels("sse").dec()
            self._sessions.delete(session.id)

    async def refuse_storm(self, principal: Principal, send: Send) -> bool:
        """429 when a client opens SSE streams faster than its budget (S13)."""
        if self._reconnects.allow(principal.name):
            return False
        self._metrics.rejections.labels("stream_rate").inc()
        retry = str(self._reconnects.retry_after_s()).encode()
        await send_json(
            send,
            429,
            jsonrpc.error_response(None, INVALID_REQUEST, "Too Many Requests: stream reconnects"),
            headers=[(b"retry-after", retry)],
        )
        return True

    async def message(self, request: Request, send: Send, endpoint: Endpoint) -> None:
        started_ns = time.time_ns()
        principal = await self._entrance.authenticate(request, endpoint, send, "messages")
        if principal is None:
            return
        session_id = session_id_from_query(request)
        session = self._sessions.get(session_id)
        refused = JsonRpcError(INVALID_REQUEST, "Session not found", http_status=404)
        if session is None or session.transport != "sse":
            raise refused
        if session.owner != principal.name or session.endpoint != endpoint.name:
            await self._entrance.audit_foreign_session(principal, endpoint, "sessionId", refused)
        check_post_media(request, need_sse=False)
        try:
            body = await request.body(self._entrance.settings.http.max_body_bytes)
        except BodyTooLargeError:
            raise JsonRpcError(INVALID_REQUEST, "Payload Too Large", http_status=413) from None
        message = jsonrpc.parse_message(body, self._limits)
        event_id = identified(request, len(body))
        arrival = Arrival(
            event_id, principal, endpoint.name or "/mcp", "legacy", started_ns, time.time_ns()
        )
        trail = open_trail(self._entrance.tracing, request, arrival, message)
        trail.in_session(session.id, session.protocol_version)
        send = answering(send, trail)
        stream = session.listener
        context = self._entrance.session_context(
            session,
            (lambda m: relay_to(session, stream, m)) if stream is not None else None,
            principal,
        )
        with finishing(trail):
            await self._accept(send, session, message, context)

    async def _open_stream(
        self, request: Request, send: Send, session: Session, messages_path: str
    ) -> None:
        """Announce the POST endpoint, then stream every message of the session."""
        stream = session.open_stream()
        session.listener = stream
        announce = sse.encode_event(
            f"{messages_path}?sessionId={session.id}".encode(), event="endpoint"
        )
        await send_sse_start(send)
        await send({"type": "http.response.body", "body": announce, "more_body": True})
        await stream_events(request, send, session, stream, 0, 0, started=True)

    async def _accept(
        self, send: Send, session: Session, message: Message, context: CallContext
    ) -> None:
        stream = session.listener
        if stream is None or stream.closed:
            raise JsonRpcError(INVALID_REQUEST, "Session not found", http_status=404)
        if message.kind == "response":
            if not session.answer(message):
                raise JsonRpcError(INVALID_REQUEST, "response to no pending request")
        elif message.kind == "notification":
            if message.method == "notifications/initialized":
                session.initialized = True
            elif message.method == "notifications/cancelled":
                session.cancel_request((message.params or {}).get("requestId"))
        else:
            if not session.initialized and message.method not in ("initialize", "ping"):
                raise JsonRpcError(
                    INVALID_REQUEST,
                    "Bad Request: send notifications/initialized before other requests",
                    id=message.id,
                )
            if session.seen(message.id_key):
                raise JsonRpcError(INVALID_REQUEST, "request id already used in this session")
            self._start(session, message, context, stream)
        await send_bytes(send, 202, b"Accepted", content_type=b"text/plain")

    def _start(
        self, session: Session, message: Message, context: CallContext, stream: EventStream
    ) -> None:
        key = message.id_key
        trail = current_trail()
        if trail is not None:
            trail.deferred = True  # answered on the stream: finished there

        async def run() -> None:
            try:
                await answer()
            finally:
                if trail is not None:
                    trail.finish()

        async def answer() -> None:
            if message.method == "initialize":
                params = message.params or {}
                requested = params.get("protocolVersion")
                version = versions.negotiate(requested if isinstance(requested, str) else "")
                session.protocol_version = version
                session.client_capabilities = params.get("capabilities") or {}
                session.client_info = params.get("clientInfo") or {}
                result = self._dispatcher.initialize_result(context.view, version)
                response: dict[str, Any] = jsonrpc.result_response(message.id, result)
            else:
                response = await self._dispatcher.dispatch(context, message)
            await stream.push(jsonrpc.dumps(response))

        task = asyncio.get_running_loop().create_task(run())
        session.inflight[key] = task
        session.remember(key)
        task.add_done_callback(lambda _: session.inflight.pop(key, None))
