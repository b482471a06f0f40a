"""Legacy sessions that outlive their worker (docs/deployment/local-stack.md, "When a worker dies").

A Streamable HTTP session (2025-03-26 … 2025-11-25) is, to its client, an id and what was
negotiated with it: the protocol version, the client's capabilities and info, whether it said
`initialized`, its log level. That much is kept in Redis (`giru:session:<id>`, expiring with the
session's idle timeout) so that when its worker dies, the worker Envoy sends the next request to
takes the session over instead of answering 404. What lived only in the dead process cannot come
along: open SSE streams and their replay buffers, requests in flight, server->client requests
waiting for an answer, resource subscriptions and the session's own upstream sessions
(`isolation: session`); the client sees a stream end and calls that fail, and must re-subscribe.
2024-11-05 sessions are their SSE stream, so they are never handed off.

Redis trouble never fails a request: a record that cannot be written is logged and counted, and a
session that cannot be read is unknown (the spec's 404, as without Redis).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import Any, Final

import orjson
import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from giru.mcp.jsonrpc import INTERNAL_ERROR, JsonRpcError
from giru.proxy.sessions import Session, SessionStore

__all__ = ["SessionHandoff", "SessionRecord"]

_log = structlog.get_logger(__name__)
_KEY: Final = "giru:session:"


@dataclass(frozen=True, slots=True)
class SessionRecord:
    owner: str
    endpoint: str
    protocol_version: str
    client_capabilities: dict[str, Any]
    client_info: dict[str, Any]
    initialized: bool
    log_level: str | None

    @classmethod
    def of(cls, session: Session) -> SessionRecord:
        return cls(
            owner=session.owner,
            endpoint=session.endpoint,
            protocol_version=session.protocol_version,
            client_capabilities=session.client_capabilities,
            client_info=session.client_info,
            initialized=session.initialized,
            log_level=session.log_level,
        )


class SessionHandoff:
    """Session records in Redis, written when a session starts or changes and refreshed while
    it is used; read by a worker that gets a session id it does not hold."""

    def __init__(self, url: str, *, ttl_s: float, timeout_s: float = 0.25) -> None:
        self._ttl_ms = max(1000, int(ttl_s * 1000))
        self.refresh_s = ttl_s / 4
        """A session used again this long after its last write is written again (its TTL)."""
        self._writes: set[asyncio.Task[bool]] = set()
        self._client = Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )

    async def save(self, session: Session) -> bool:
        if session.transport != "streamable-http":
            return False
        record = orjson.dumps(asdict(SessionRecord.of(session)))
        try:
            await self._client.set(_KEY + session.id, record, px=self._ttl_ms)
        except RedisError as exc:
            _log.warning("session_handoff_save_failed", error=repr(exc))
            return False
        session.saved_at = time.monotonic()
        return True

    async def load(self, session_id: str) -> SessionRecord | None:
        try:
            raw = await self._client.get(_KEY + session_id)
        except RedisError as exc:
            _log.warning("session_handoff_load_failed", error=repr(exc))
            return None
        if raw is None:
            return None
        try:
            return SessionRecord(**orjson.loads(raw))
        except (orjson.JSONDecodeError, TypeError) as exc:
            _log.error("session_handoff_record_unreadable", error=repr(exc))
            return None

    async def take_over(
        self, sessions: SessionStore, session_id: str, endpoint: str, principal: Any
    ) -> Session | None:
        """The session `session_id` in `sessions`, from its record, for the client and endpoint
        that started it only; None when there is no such record."""
        record = await self.load(session_id)
        if record is None or record.owner != principal.name or record.endpoint != endpoint:
            return None
        session = sessions.adopt(
            session_id,
            owner=record.owner,
            principal=principal,
            endpoint=record.endpoint,
            transport="streamable-http",
            protocol_version=record.protocol_version,
            client_capabilities=record.client_capabilities,
            client_info=record.client_info,
            initialized=record.initialized,
            log_level=record.log_level,
        )
        if session is None:
            raise JsonRpcError(INTERNAL_ERROR, "too many sessions", http_status=503)
        self.keep(session)
        return session

    def keep(self, session: Session) -> None:
        """Rewrite a used session's record (and so its expiry) now and then, in the background."""
        if time.monotonic() - session.saved_at < self.refresh_s:
            return
        session.saved_at = time.monotonic()  # one write in flight at a time
        task = asyncio.get_running_loop().create_task(self.save(session))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def forget(self, session_id: str) -> None:
        try:
            await self._client.delete(_KEY + session_id)
        except RedisError as exc:
            _log.warning("session_handoff_forget_failed", error=repr(exc))

    async def aclose(self) -> None:
        await asyncio.gather(*self._writes, return_exceptions=True)
        await self._client.aclose()
