"""Upstream health checks: an MCP `ping` per server on an interval.

A server that fails `unhealthy_after` checks in a row is unhealthy: its calls are answered at
once with a clear error (the dispatcher's `unhealthy`), its tools stay in the catalog (unless
its `catalog.keepStale` is false: then they leave clients' views, announced), and the status is
reported (metric `giru_upstream_up`, the store for the API). One good check heals it
(`giru_upstream_up` stays 0 while the server's circuit breaker is open, whatever the pings say).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

import structlog

from giru.catalog.snapshot import ServerCatalog
from giru.errors import GiruError, UpstreamCredentialsError
from giru.proxy.dispatch import Dispatcher
from giru.proxy.upstreams import UpstreamPool
from giru.telemetry.metrics import Metrics

__all__ = ["Health", "HealthChecker", "HealthRecorder"]

Health = Literal["healthy", "unhealthy", "unknown"]
OnHealth = Callable[[str, Health, str | None], Awaitable[None]]

_log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _State:
    health: Health = "unknown"
    failures: int = 0


class HealthChecker:
    def __init__(
        self,
        pool: UpstreamPool,
        dispatcher: Dispatcher,
        metrics: Metrics,
        on_change: OnHealth,
        *,
        timeout_s: float,
        unhealthy_after: int,
    ) -> None:
        self._pool = pool
        self._dispatcher = dispatcher
        self._metrics = metrics
        self._on_change = on_change
        self._timeout_s = timeout_s
        self._unhealthy_after = unhealthy_after
        self._states: dict[str, _State] = {}

    def health(self, server: str) -> Health:
        state = self._states.get(server)
        return "unknown" if state is None else state.health

    async def run(self, interval_s: float) -> None:
        while True:
            try:
                await self.check_all()
            except Exception:  # noqa: BLE001 - the checker must outlive one bad round
                _log.exception("health_check_round_failed")
            await asyncio.sleep(interval_s)

    async def check_all(self) -> None:
        servers = list(self._pool.specs)
        for gone in set(self._states) - set(servers):
            del self._states[gone]
            self._dispatcher.unhealthy.pop(gone, None)
            self._metrics.upstreams.forget([gone])
        async with asyncio.TaskGroup() as group:
            for server in servers:
                group.create_task(self.check(server))

    async def check(self, server: str) -> None:
        """Ping `server` once and record the outcome."""
        try:
            async with asyncio.timeout(self._timeout_s):
                session = await self._pool.session(server, "modern")
                await session.request("ping", None)
        except UpstreamCredentialsError:
            return  # says nothing of the upstream; its calls answer credentials_unavailable
        except (GiruError, TimeoutError, OSError) as exc:
            await self._failed(server, getattr(exc, "message", None) or "no answer in time")
        else:
            await self._passed(server)

    async def _passed(self, server: str) -> None:
        state = self._states.setdefault(server, _State())
        state.failures = 0
        self._metrics.upstreams.reachable(server, answered=True)
        if state.health != "healthy":
            state.health = "healthy"
            self._dispatcher.unhealthy.pop(server, None)
            _log.info("upstream_healthy", server=server)
            await self._on_change(server, "healthy", None)

    async def _failed(self, server: str, reason: str) -> None:
        state = self._states.setdefault(server, _State())
        state.failures += 1
        if state.failures < self._unhealthy_after or state.health == "unhealthy":
            return
        state.health = "unhealthy"
        self._dispatcher.unhealthy[server] = f"{state.failures} health checks failed: {reason}"
        self._metrics.upstreams.reachable(server, answered=False)
        _log.warning("upstream_unhealthy", server=server, reason=reason)
        await self._on_change(server, "unhealthy", reason)


class HealthStore(Protocol):
    async def record_health(self, server: str, health: str, error: str | None) -> None: ...


class HeldCatalogs(Protocol):
    @property
    def by_server(self) -> Mapping[str, ServerCatalog]: ...

    async def refresh(self, server: str) -> None: ...

    async def health_changed(self, server: str, *, healthy: bool) -> None: ...


class HealthRecorder:
    """What a health change does (the checker's `on_change`): it is stored, for the API; and a
    server that becomes healthy has its catalog fetched again when the one held may be stale:
    after it was unhealthy (what changed while it was down), or when the last fetch failed.
    Its first good check at start-up fetches nothing: the start-up fetch is under way or done.
    The gateway hears of each change too (`catalog.keepStale: false` withdraws a down server's
    lists from clients' views)."""

    def __init__(self, store: HealthStore, catalogs: HeldCatalogs) -> None:
        self._store = store
        self._catalogs = catalogs
        self._last: dict[str, Health] = {}

    async def __call__(self, server: str, health: Health, error: str | None) -> None:
        await self._store.record_health(server, health, error)
        before = self._last.get(server, "unknown")
        self._last[server] = health
        if health != "healthy":
            if health == "unhealthy":
                await self._catalogs.health_changed(server, healthy=False)
            return
        held = self._catalogs.by_server.get(server)
        if before == "unhealthy" or (held is not None and held.error is not None):
            await self._catalogs.refresh(server)
        await self._catalogs.health_changed(server, healthy=True)
