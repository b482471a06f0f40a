"""Publishes this worker's circuit-breaker transitions to the shared store, off the call path.

The breakers hand each transition to `offer` (a dict write, no I/O); `run` writes the newest
transition of each server in the background, so the admin API (which reads the store, not any
worker's memory) can show an open breaker. A write that fails is retried with the newer news.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Final, Protocol

import structlog

from giru.errors import GiruError
from giru.proxy.breaker import BreakerChange
from giru.store.breakers import BreakerReport

__all__ = ["BreakerReports", "BreakerSink"]

_log = structlog.get_logger(__name__)
_RETRY_S: Final = 5.0
_SHUTDOWN_S: Final = 2.0


class BreakerSink(Protocol):
    """Where reports go (`giru.store.breakers.BreakerBoard`)."""

    async def record(self, reports: Sequence[BreakerReport]) -> None: ...

    async def forget(self) -> None: ...


class BreakerReports:
    def __init__(self, sink: BreakerSink, *, retry_s: float = _RETRY_S) -> None:
        self._sink = sink
        self._retry_s = retry_s
        self._pending: dict[str, BreakerReport] = {}
        self._wakeup = asyncio.Event()

    def offer(self, change: BreakerChange) -> None:
        """Keep `change` as its server's newest news (the breakers' watcher)."""
        self._pending[change.server] = BreakerReport(
            change.server, change.state, change.at, change.until, change.error
        )
        self._wakeup.set()

    async def run(self) -> None:
        """Forget what this worker reported before (a restart has fresh breakers), then write
        transitions as they come; on the way out, forget them again."""
        try:
            await self._forget()
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                if not await self._flush():
                    await asyncio.sleep(self._retry_s)
        finally:
            async with asyncio.timeout(_SHUTDOWN_S):
                await asyncio.shield(self._forget())

    async def _flush(self) -> bool:
        reports, self._pending = self._pending, {}
        try:
            await self._sink.record(list(reports.values()))
        except Exception:  # noqa: BLE001 - a report that fails must not stop the worker
            _log.exception("breaker_report_failed")
            self._pending = {**reports, **self._pending}
            self._wakeup.set()
            return False
        return True

    async def _forget(self) -> None:
        try:
            await self._sink.forget()
        except (GiruError, OSError) as exc:
            _log.warning("breaker_reports_not_cleared", error=str(exc)[:200])
