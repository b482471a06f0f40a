"""One shared upstream session per server: connected lazily, reconnected after failure.

Messages an upstream sends outside any request are handled here: list changes refresh the
catalog; a server->client request that the connector could not tie to one call is refused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol

import aiohttp
import structlog

from giru.errors import UpstreamUnavailableError
from giru.mcp import jsonrpc
from giru.mcp.versions import LATEST_LEGACY_VERSION, LATEST_MODERN_VERSION, Era, era_of
from giru.telemetry.metrics import Metrics
from giru.upstream import connect
from giru.upstream.base import ClientIdentity, MessageSink, ServerSpec, UpstreamSession

__all__ = ["UpstreamPool"]

_log = structlog.get_logger(__name__)
_RETRY_AFTER_S: Final = 1.0
GATEWAY_CAPABILITIES: Final[dict[str, Any]] = {"sampling": {}, "elicitation": {}}

ListChanged = Callable[[str, str], Awaitable[None]]
"""(server, notification method) -> None"""


class Connector(Protocol):
    async def __call__(
        self,
        spec: ServerSpec,
        identity: ClientIdentity,
        *,
        on_unsolicited: MessageSink,
        http: aiohttp.ClientSession,
    ) -> UpstreamSession: ...


class UpstreamPool:
    def __init__(
        self,
        specs: Mapping[str, ServerSpec],
        *,
        http: aiohttp.ClientSession,
        metrics: Metrics,
        on_list_changed: ListChanged,
        connector: Connector = connect,
    ) -> None:
        self._connector = connector
        self._specs = dict(specs)
        self._http = http
        self._metrics = metrics
        self._on_list_changed = on_list_changed
        self._sessions: dict[tuple[str, Era], UpstreamSession] = {}
        self._locks: dict[tuple[str, Era], asyncio.Lock] = {}
        self._failed_at: dict[tuple[str, Era], float] = {}

    @property
    def specs(self) -> Mapping[str, ServerSpec]:
        return self._specs

    async def session(self, server: str, era: Era = "legacy") -> UpstreamSession:
        """The shared session with `server` in `era` when it speaks it (the connector falls
        back to the other era otherwise)."""
        spec = self._specs.get(server)
        if spec is not None and spec.transport != "streamable-http":
            era = "legacy"  # stdio and HTTP+SSE upstreams speak the legacy era only
        key = (server, era)
        existing = self._sessions.get(key)
        if existing is not None:
            return existing
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            existing = self._sessions.get(key)
            if existing is not None:
                return existing
            return await self._connect(key)

    async def _connect(self, key: tuple[str, Era]) -> UpstreamSession:
        server, era = key
        spec = self._specs.get(server)
        if spec is None:
            raise UpstreamUnavailableError(server, f"no server named {server!r}")
        failed_at = self._failed_at.get(key)
        if failed_at is not None and time.monotonic() - failed_at < _RETRY_AFTER_S:
            raise UpstreamUnavailableError(server, "upstream is unavailable (connect failed)")
        version = LATEST_MODERN_VERSION if era == "modern" else LATEST_LEGACY_VERSION
        identity = ClientIdentity(capabilities=GATEWAY_CAPABILITIES, protocol_version=version)
        try:
            session = await self._connector(
                spec, identity, on_unsolicited=self._unsolicited_sink(server), http=self._http
            )
        except Exception as exc:
            self._failed_at[key] = time.monotonic()
            self._metrics.upstream_up.labels(server).set(0)
            _log.warning("upstream_connect_failed", server=server, error=str(exc)[:300])
            if isinstance(exc, UpstreamUnavailableError):
                raise
            raise UpstreamUnavailableError(server, "upstream is unavailable") from exc
        self._failed_at.pop(key, None)
        self._metrics.upstream_up.labels(server).set(1)
        actual: Era = "modern" if era_of(session.protocol_version) == "modern" else "legacy"
        existing = self._sessions.get((server, actual))
        if actual != era and existing is not None:
            await self._close(session)  # the server only speaks `actual`: one session is enough
            session = existing
        self._sessions[key] = session
        self._sessions[(server, actual)] = session
        return session

    def _unsolicited_sink(self, server: str) -> MessageSink:
        async def sink(message: dict[str, Any]) -> dict[str, Any] | None:
            method = message.get("method", "")
            if "id" not in message:
                if method.endswith("/list_changed"):
                    await self._on_list_changed(server, method)
                return None
            if method == "ping":
                return jsonrpc.result_response(message["id"], {})
            return jsonrpc.error_response(
                message["id"], jsonrpc.METHOD_NOT_FOUND, "no client to route this request to"
            )

        return sink

    async def update(self, specs: Mapping[str, ServerSpec]) -> set[str]:
        """Adopt new specs; sessions of changed or removed servers close. Returns changed names."""
        changed = {
            n for n in specs.keys() | self._specs.keys() if specs.get(n) != self._specs.get(n)
        }
        self._specs = dict(specs)
        for key in [k for k in self._sessions.keys() | self._failed_at.keys() if k[0] in changed]:
            self._failed_at.pop(key, None)
            session = self._sessions.pop(key, None)
            if session is not None and session not in self._sessions.values():
                await self._close(session)
        return {name for name in changed if name in specs}

    async def _close(self, session: UpstreamSession) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(session.aclose()), timeout=10)
        except Exception as exc:  # noqa: BLE001 - closing must go on for the others
            _log.warning("upstream_close_failed", server=session.server, error=str(exc))

    async def aclose(self) -> None:
        sessions = list({id(s): s for s in self._sessions.values()}.values())
        self._sessions = {}
        for session in sessions:
            await self._close(session)
