"""The `MCPServer` and `VirtualServer` kinds and their tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from giru.manifests.documents import MCPServerSpec, VirtualServerSpec
from giru.store.breakers import breaker_statuses
from giru.store.database import Tx, utcnow
from giru.store.kinds import KindAdapter, server_refs, uses_server
from giru.store.models import (
    ClientRow,
    MCPServerRow,
    MCPToolRow,
    SubscriptionRow,
    ToolReviewRow,
    VirtualServerRow,
)
from giru.store.policies import policy_users
from giru.store.specs import Problem, dump, ordered, timestamp_text

__all__ = ["MCPServerAdapter", "VirtualServerAdapter"]

_COLUMNS = ("transport", "url", "enabled")


class MCPServerAdapter(KindAdapter[MCPServerRow]):
    """`transport`, `url` and `enabled` are columns; the rest of the spec is `config`."""

    kind = "MCPServer"
    model = MCPServerSpec
    row = MCPServerRow
    filter_columns: ClassVar[Mapping[str, InstrumentedAttribute[Any]]] = {
        "transport": MCPServerRow.transport,
        "health": MCPServerRow.health,
    }

    def spec(self, row: MCPServerRow) -> dict[str, Any]:
        columns = {
            "transport": row.transport,
            "url": row.endpoint_url,
            "enabled": row.status == "active",
        }
        return ordered(MCPServerSpec, {**row.config, **columns})

    async def statuses(
        self, session: AsyncSession, rows: Sequence[MCPServerRow]
    ) -> dict[str, dict[str, Any]]:
        ids = [row.id for row in rows]
        counts = await _available_tools(session, ids)
        held = await _held_tools(session, ids)
        breakers = await breaker_statuses(session, ids, utcnow())
        return {
            row.id: {
                "health": row.health,
                "healthError": row.health_error,
                "lastHealthCheck": timestamp_text(row.last_health_check),
                "tools": counts.get(row.id, 0),
                "heldTools": held.get(row.id, 0),
                "breaker": breakers[row.id],
            }
            for row in rows
        }

    async def assign(
        self, tx: Tx, row: MCPServerRow, spec: Any, previous: dict[str, Any] | None
    ) -> None:
        canonical = dump(spec)
        row.transport = spec.transport
        row.endpoint_url = spec.url
        row.status = "active" if spec.enabled else "disabled"
        row.config = {k: v for k, v in canonical.items() if k not in _COLUMNS}
        if previous is None:
            row.health = "unknown"

    async def users(self, session: AsyncSession, row: MCPServerRow) -> list[str]:
        subscriptions = await session.scalars(
            select(SubscriptionRow.name).where(SubscriptionRow.mcp_server_id == row.id)
        )
        found = [f"Subscription/{name}" for name in subscriptions]
        for kind, table in (("VirtualServer", VirtualServerRow), ("Client", ClientRow)):
            configs = await session.execute(
                select(table.name, table.config).where(table.tenant_id == row.tenant_id)
            )
            found += [f"{kind}/{name}" for name, config in configs if uses_server(config, row.name)]
        return sorted(found + await policy_users(session, row, "servers"))


class VirtualServerAdapter(KindAdapter[VirtualServerRow]):
    """The whole canonical spec is `config`."""

    kind = "VirtualServer"
    model = VirtualServerSpec
    row = VirtualServerRow

    def spec(self, row: VirtualServerRow) -> dict[str, Any]:
        return dict(row.config)

    async def check(self, tx: Tx, name: str, spec: Any) -> list[Problem]:
        return await server_refs(tx, spec.servers, spec.tools, wildcard=False)

    async def users(self, session: AsyncSession, row: VirtualServerRow) -> list[str]:
        return await policy_users(session, row, "virtualServers")

    async def assign(
        self, tx: Tx, row: VirtualServerRow, spec: Any, previous: dict[str, Any] | None
    ) -> None:
        row.config = dump(spec)


async def _available_tools(session: AsyncSession, server_ids: list[str]) -> dict[str, int]:
    if not server_ids:
        return {}
    query = (
        select(MCPToolRow.server_id, func.count())
        .where(MCPToolRow.server_id.in_(server_ids), MCPToolRow.available.is_(True))
        .group_by(MCPToolRow.server_id)
    )
    return {server_id: count for server_id, count in await session.execute(query)}


async def _held_tools(session: AsyncSession, server_ids: list[str]) -> dict[str, int]:
    """Tool changes waiting for review per server (tool trust): the server is served only in
    part until they are decided."""
    if not server_ids:
        return {}
    query = (
        select(ToolReviewRow.server_id, func.count())
        .where(ToolReviewRow.server_id.in_(server_ids), ToolReviewRow.state == "pending")
        .group_by(ToolReviewRow.server_id)
    )
    return {server_id: count for server_id, count in await session.execute(query)}
