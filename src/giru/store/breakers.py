"""Upstream circuit breakers as the gateway workers report them (`upstream_breakers`).

A breaker lives in one worker's memory; each worker writes its transitions here (no revision is
taken: nothing the data path reads changes) and the admin API reads the worst state across the
workers that reported one. An open breaker whose cool-down has passed reads as half-open: the
worker lets the next call through and that call decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from giru.store.database import Database, utcnow
from giru.store.models import MCPServerRow, UpstreamBreakerRow
from giru.store.specs import timestamp_text

__all__ = ["BreakerBoard", "BreakerReport", "breaker_statuses"]

_RANK: Final = {"closed": 0, "half-open": 1, "open": 2}
_CLOSED: Final[dict[str, Any]] = {
    "state": "closed",
    "since": None,
    "until": None,
    "lastError": None,
    "workers": 0,
    "workersOpen": 0,
}


@dataclass(frozen=True, slots=True)
class BreakerReport:
    """One worker's breaker of one server (see `giru.proxy.breaker.BreakerChange`)."""

    server: str
    state: str
    since: datetime
    until: datetime | None
    error: str | None


class BreakerBoard:
    """One worker's (`node`) breaker reports in the store."""

    def __init__(self, database: Database, tenant_id: str, node: str) -> None:
        self._database = database
        self._tenant = tenant_id
        self._node = node

    async def record(self, reports: Sequence[BreakerReport]) -> None:
        """Replace this worker's rows of the reported servers (unknown servers are skipped)."""
        async with self._database.transaction() as session:
            names = {report.server for report in reports}
            found = await session.execute(
                select(MCPServerRow.name, MCPServerRow.id).where(
                    MCPServerRow.tenant_id == self._tenant, MCPServerRow.name.in_(names)
                )
            )
            ids = {name: server_id for name, server_id in found}
            await session.execute(
                delete(UpstreamBreakerRow).where(
                    UpstreamBreakerRow.node == self._node,
                    UpstreamBreakerRow.server_id.in_(list(ids.values())),
                )
            )
            now = utcnow()
            for report in reports:
                if report.server in ids:
                    session.add(self._row(ids[report.server], report, now))

    async def forget(self) -> None:
        """Drop this worker's rows (it starts, or stops: its breakers are gone)."""
        async with self._database.transaction() as session:
            await session.execute(
                delete(UpstreamBreakerRow).where(
                    UpstreamBreakerRow.tenant_id == self._tenant,
                    UpstreamBreakerRow.node == self._node,
                )
            )

    def _row(self, server_id: str, report: BreakerReport, now: datetime) -> UpstreamBreakerRow:
        return UpstreamBreakerRow(
            tenant_id=self._tenant,
            server_id=server_id,
            node=self._node,
            state=report.state,
            since=report.since,
            until=report.until,
            error=report.error[:100] if report.error else None,
            created_at=now,
            updated_at=now,
        )


async def breaker_statuses(
    session: AsyncSession, server_ids: Sequence[str], now: datetime
) -> dict[str, dict[str, Any]]:
    """Each server's breaker for the API: the worst state across the workers that reported
    one (`workers`), how many have it open or half-open (`workersOpen`), since when (the
    earliest of the worst), until when an open one refuses calls, and the last failure's code.
    A server no worker reported is closed, reported by none."""
    found: dict[str, list[tuple[str, UpstreamBreakerRow]]] = {sid: [] for sid in server_ids}
    if server_ids:
        rows = await session.scalars(
            select(UpstreamBreakerRow).where(UpstreamBreakerRow.server_id.in_(server_ids))
        )
        for row in rows:
            found[row.server_id].append((_state_at(row, now), row))
    return {sid: _summary(reported) for sid, reported in found.items()}


def _state_at(row: UpstreamBreakerRow, now: datetime) -> str:
    if row.state == "open" and row.until is not None and row.until <= now:
        return "half-open"  # the cool-down is over: the worker lets the next call decide
    return row.state


def _summary(reported: list[tuple[str, UpstreamBreakerRow]]) -> dict[str, Any]:
    if not reported:
        return dict(_CLOSED)
    worst = max(_RANK[state] for state, _ in reported)
    rows = [row for state, row in reported if _RANK[state] == worst]
    state = next(state for state, _ in reported if _RANK[state] == worst)
    first = min(rows, key=lambda row: row.since) if worst else max(rows, key=lambda r: r.since)
    return {
        "state": state,
        "since": timestamp_text(first.since),
        "until": timestamp_text(first.until) if state == "open" else None,
        "lastError": first.error,
        "workers": len(reported),
        "workersOpen": sum(1 for state, _ in reported if state != "closed"),
    }
