"""Legacy-era client sessions: identity, negotiated version, in-flight requests, SSE streams."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import structlog

from giru.mcp import jsonrpc

__all__ = ["EventStream", "Session", "SessionStore"]

_log = structlog.get_logger(__name__)
_RECENT_IDS: Final = 1024
_CLIENT_ANSWER_TIMEOUT_S: Final = 300.0


class EventStream:
    """An SSE stream's events, kept (bounded) so a client can resume with Last-Event-ID."""

    def __init__(self, stream_id: str, keep: int) -> None:
        self.id = stream_id
        self._events: deque[tuple[int, bytes]] = deque(maxlen=max(keep, 1))
        self._seq = 0
        self._closed = False
        self._changed = asyncio.Condition()
        self.writer: Callable[[int, bytes], Awaitable[None]] | None = None

    async def push(self, data: bytes) -> None:
        async with self._changed:
            self._seq += 1
            seq = self._seq
            self._events.append((seq, data))
            self._changed.notify_all()
        if self.writer is not None:  # the live response this stream belongs to
            await self.writer(seq, data)

    async def close(self) -> None:
        async with self._changed:
            self._closed = True
            self._changed.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def event_id(self, seq: int) -> str:
        return f"{self.id}.{seq}"

    async def follow(self, after: int = 0) -> AsyncIterator[tuple[int, bytes]]:
        """Events after sequence `after`, then live ones until the stream closes."""
        position = after
        while True:
            async with self._changed:
                pending = [(s, d) for s, d in self._events if s > position]
                if not pending:
                    if self._closed:
                        return
                    await self._changed.wait()
                    continue
            for seq, data in pending:
                position = seq
                yield seq, data


@dataclass(eq=False)
class Session:
    id: str
    owner: str
    principal: Any
    endpoint: str
    transport: Literal["streamable-http", "sse"]
    protocol_version: str
    client_capabilities: dict[str, Any]
    client_info: dict[str, Any]
    keep_events: int
    initialized: bool = False
    last_seen: float = field(default_factory=time.monotonic)
    inflight: dict[bytes, asyncio.Task[Any]] = field(default_factory=dict)
    client_cancelled: set[bytes] = field(default_factory=set)
    log_level: str | None = None
    saved_at: float = 0.0
    """When its handoff record was last written (giru.proxy.handoff); 0: never."""
    upstream_owner: Any = None
    """Cached by the gateway: this session as the owner of its isolated upstream sessions."""
    recent_ids: dict[bytes, None] = field(default_factory=dict)  # insertion-ordered, bounded
    pending: dict[bytes, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    streams: dict[str, EventStream] = field(default_factory=dict)
    listener: EventStream | None = None
    _stream_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _request_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def set_log_level(self, level: str) -> None:
        self.log_level = level

    def touch(self) -> None:
        self.last_seen = time.monotonic()

    def open_stream(self) -> EventStream:
        stream = EventStream(f"{next(self._stream_ids)}", self.keep_events)
        self.streams[stream.id] = stream
        while len(self.streams) > 64:  # forget the oldest finished streams
            oldest = next(iter(self.streams.values()))
            if not oldest.closed:
                break
            del self.streams[oldest.id]
        return stream

    def remember(self, key: bytes) -> None:
        """Record a request id as used (the oldest of more than `_RECENT_IDS` is forgotten)."""
        self.recent_ids[key] = None
        if len(self.recent_ids) > _RECENT_IDS:
            del self.recent_ids[next(iter(self.recent_ids))]

    def seen(self, key: bytes) -> bool:
        """True when this request id is in flight or was used recently (BAD-INPUT J7)."""
        return key in self.inflight or key in self.recent_ids

    async def ask_client(self, stream: EventStream, request: dict[str, Any]) -> dict[str, Any]:
        """Send a server->client request on `stream`; wait for the client's POSTed answer."""
        our_id = f"giru-{next(self._request_ids)}"
        key = jsonrpc.id_key(our_id)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[key] = future
        upstream_id = request.get("id")
        try:
            await stream.push(jsonrpc.dumps({**request, "id": our_id}))
            answer = await asyncio.wait_for(future, _CLIENT_ANSWER_TIMEOUT_S)
        except TimeoutError:
            return jsonrpc.error_response(upstream_id, jsonrpc.INTERNAL_ERROR, "client timeout")
        finally:
            self.pending.pop(key, None)
        return {**answer, "id": upstream_id}

    def answer(self, message: jsonrpc.Message) -> bool:
        """Deliver a client's response to a pending server->client request (J11)."""
        future = self.pending.get(message.id_key)
        if future is None or future.done():
            return False
        future.set_result(message.raw)
        return True

    def cancel_request(self, request_id: Any) -> None:
        """`notifications/cancelled`: end that request quietly (ids of others are ignored, M13)."""
        key = jsonrpc.id_key(request_id)
        task = self.inflight.get(key)
        if task is not None:
            self.client_cancelled.add(key)
            task.cancel()

    def cancel_all(self) -> None:
        self.client_cancelled.update(self.inflight)  # ends them quietly, without a response
        for task in self.inflight.values():
            task.cancel()
        for future in self.pending.values():
            future.cancel()


class SessionStore:
    """Sessions by id, bounded in number and idle time."""

    def __init__(
        self, *, idle_timeout_s: float, max_sessions: int, keep_events: int, prefix: str = ""
    ) -> None:
        self._sessions: dict[str, Session] = {}
        self._prefix = prefix
        """Behind Envoy, `<worker_name>.`: the edge routes a session back to its worker by it."""
        self._idle_timeout_s = idle_timeout_s
        self._max_sessions = max_sessions
        self._keep_events = keep_events
        self.on_close: Callable[[Session], None] | None = None
        """Called once for every session that ends (deleted or expired)."""

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, **fields: Any) -> Session | None:
        return self.adopt(self._prefix + secrets.token_urlsafe(24), **fields)

    def adopt(self, session_id: str, **fields: Any) -> Session | None:
        """A session under `session_id`: a new one, or one another worker started and this one
        takes over (None when full)."""
        self.expire()
        if len(self._sessions) >= self._max_sessions:
            return None
        session = Session(id=session_id, keep_events=self._keep_events, **fields)
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> Session | None:
        session = self._sessions.get(session_id)
        if session is None:
            return None
        idle = time.monotonic() - session.last_seen
        if idle > self._idle_timeout_s and not session.inflight:  # S15: expired, even if unswept
            self.delete(session_id)
            return None
        session.touch()
        return session

    def all(self) -> list[Session]:
        return list(self._sessions.values())

    def delete(self, session_id: str) -> Session | None:
        session = self._sessions.pop(session_id, None)
        if session is not None:
            session.cancel_all()
            if self.on_close is not None:
                self.on_close(session)
        return session

    def expire(self) -> int:
        deadline = time.monotonic() - self._idle_timeout_s
        stale = [s.id for s in self._sessions.values() if s.last_seen < deadline and not s.inflight]
        for session_id in stale:
            self.delete(session_id)
        if stale:
            _log.info("sessions_expired", count=len(stale))
        return len(stale)
