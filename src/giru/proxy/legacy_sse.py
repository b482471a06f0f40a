"""The 2024-11-05 HTTP+SSE transport: GET opens the session stream, POST /messages gets 202."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

from giru.mcp import jsonrpc, sse, versions
from giru.mcp.jsonrpc import INVALID_REQUEST, JsonRpcError, Message
from giru.proxy.dispatch import CallContext, Dispatcher
from giru.proxy.http import Request, Send, send_bytes, send_sse_start
from giru.proxy.sessions import EventStream, Session
from giru.proxy.streamable import stream_events
from giru.proxy.trail import current_trail

__all__ = ["LegacySse", "session_id_from_query"]


def session_id_from_query(request: Request) -> str:
    values = parse_qs(request.query.decode("latin-1")).get("sessionId") or []
    if len(values) != 1 or not values[0].isascii() or len(values[0]) > 128:
        raise JsonRpcError(INVALID_REQUEST, "Bad Request: sessionId query parameter is required")
    return values[0]


class LegacySse:
    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher

    async def open(
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

    async def post(
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
