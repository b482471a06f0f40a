"""The tool catalog of each MCP server as last synced, and the servers' health.

A tool is identified by (server, name); its `definition_hash` is the SHA-256 of the canonical
JSON of the definition the server listed, so a sync can tell changed tools from unchanged ones.
Tools a server stops listing are kept with `available = False`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, exists, func, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from giru.errors import NotFoundError, ValidationError
from giru.store.database import Tx
from giru.store.kinds import find_row
from giru.store.models import MCPServerRow, MCPToolRow
from giru.store.records import Page, SyncResult, ToolRecord
from giru.store.resources import check_limit
from giru.store.specs import decode_cursor, encode_cursor

__all__ = [
    "HEALTH",
    "HEALTH_ERROR_KEPT",
    "ToolQuery",
    "definition_hash",
    "record_health",
    "server_row",
    "set_available",
    "sync",
    "tool_page",
]

HEALTH = ("healthy", "unhealthy", "unknown")
HEALTH_ERROR_KEPT = 500
"""How much of a health error a health change record keeps (the server's row keeps it whole)."""


def definition_hash(tool: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the tool definition as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(tool, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


async def server_row(session: AsyncSession, tenant_id: str, name: str) -> MCPServerRow:
    row = await find_row(session, tenant_id, MCPServerRow, name)
    if row is None:
        raise NotFoundError(f"MCPServer/{name} not found", data={"kind": "MCPServer", "name": name})
    return row


async def sync(
    tx: Tx,
    server: MCPServerRow,
    tools: Sequence[Mapping[str, Any]],
    tags: Mapping[str, Sequence[str]],
    categories: Mapping[str, str],
) -> SyncResult:
    """Record the tools `server` lists now; counts of added, changed and removed tools."""
    query = select(MCPToolRow).where(MCPToolRow.server_id == server.id)
    known = {row.name: row for row in await tx.session.scalars(query)}
    added = changed = 0
    listed: set[str] = set()
    for tool in tools:
        name = _tool_name(tool)
        if name in listed:
            continue  # a server listing a name twice: the first definition wins
        listed.add(name)
        row = known.get(name)
        digest = definition_hash(tool)
        if row is None:
            row = _new_tool(tx, server, name)
            added += 1
        elif not row.available:
            added += 1
        elif row.definition_hash != digest:
            changed += 1
        _describe(tx, row, tool, digest, (tags.get(name, ()), categories.get(name)))
    removed = [row for name, row in known.items() if name not in listed and row.available]
    for row in removed:
        row.available, row.updated_at = False, tx.now
    tx.touched = True
    if added or changed or removed:
        counts = {"added": added, "changed": changed, "removed": len(removed)}
        tx.record("sync", "MCPServer", server.name, server.version, counts)
    return SyncResult(server.name, len(listed), added, changed, len(removed))


async def set_available(tx: Tx, server: MCPServerRow, available: bool) -> None:
    """Mark the server's tools (un)available; back on, only those its last sync listed."""
    conditions = [MCPToolRow.server_id == server.id, MCPToolRow.available.is_(not available)]
    if available:
        last = select(func.max(MCPToolRow.last_synced_at)).where(MCPToolRow.server_id == server.id)
        conditions.append(MCPToolRow.last_synced_at == last.scalar_subquery())
    result = await tx.session.execute(
        update(MCPToolRow).where(*conditions).values(available=available, updated_at=tx.now)
    )
    if getattr(result, "rowcount", 0):
        tx.record("available" if available else "unavailable", "MCPServer", server.name, None)


def record_health(tx: Tx, server: MCPServerRow, health: str, error: str | None) -> None:
    """Store a health check; a change of health (or of its error) counts as a change.

    A change of health (healthy, unhealthy, unknown) is also a change record (action `health`,
    detail `{health, error}`: the server's health history); a new error text while the health
    stays the same is not, so a server whose error message varies adds no records. The error
    kept in the record is cut to `HEALTH_ERROR_KEPT` characters."""
    if health not in HEALTH:
        reason = f"must be one of {', '.join(HEALTH)}"
        raise ValidationError(
            f"health: {reason}", data={"errors": [{"field": "health", "reason": reason}]}
        )
    tx.touched = True
    if server.health != health:
        kept = None if error is None else error[:HEALTH_ERROR_KEPT]
        tx.record("health", "MCPServer", server.name, None, {"health": health, "error": kept})
    elif server.health_error != error:
        tx.changed = True
    server.health, server.health_error, server.last_health_check = health, error, tx.now


class ToolQuery:
    """Filters of a tool listing (every given one must match)."""

    def __init__(
        self,
        *,
        server: str | None = None,
        tag: str | None = None,
        q: str | None = None,
        available: bool | None = None,
    ) -> None:
        self.server, self.tag, self.q, self.available = server, tag, q, available

    def conditions(self, dialect: str) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.server is not None:
            found.append(MCPServerRow.name == self.server)
        if self.available is not None:
            found.append(MCPToolRow.available.is_(self.available))
        if self.q:
            pattern = (
                "%" + self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            )
            found.append(
                or_(
                    MCPToolRow.name.ilike(pattern, escape="\\"),
                    MCPToolRow.description.ilike(pattern, escape="\\"),
                )
            )
        if self.tag is not None:
            found.append(_has_tag(dialect, self.tag))
        return found


async def tool_page(
    session: AsyncSession,
    tenant_id: str,
    query: ToolQuery,
    *,
    dialect: str,
    limit: int,
    cursor: str | None,
) -> Page[ToolRecord]:
    """Tools ordered by (server, name), after `cursor`."""
    check_limit(limit)
    conditions = [MCPToolRow.tenant_id == tenant_id, *query.conditions(dialect)]
    if cursor is not None:
        server, name = decode_cursor(cursor, 2)
        conditions.append(
            or_(
                MCPServerRow.name > server,
                (MCPServerRow.name == server) & (MCPToolRow.name > name),
            )
        )
    statement = (
        select(MCPToolRow, MCPServerRow.name)
        .join(MCPServerRow, MCPServerRow.id == MCPToolRow.server_id)
        .where(*conditions)
        .order_by(MCPServerRow.name, MCPToolRow.name)
        .limit(limit + 1)
    )
    rows = list(await session.execute(statement))
    more, rows = len(rows) > limit, rows[:limit]
    items = [_record(tool, server) for tool, server in rows]
    return Page(items, encode_cursor([items[-1].server, items[-1].name]) if more else None)


def _has_tag(dialect: str, tag: str) -> ColumnElement[bool]:
    # JSON array membership: the one place where the two dialects need different SQL.
    elements = func.json_each if dialect == "sqlite" else func.json_array_elements_text
    values = elements(MCPToolRow.tags).table_valued("value")
    return exists(select(literal_column("1")).select_from(values).where(values.c.value == tag))


def _tool_name(tool: Mapping[str, Any]) -> str:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        reason = "every tool needs a non-empty string name"
        raise ValidationError(
            f"tools: {reason}", data={"errors": [{"field": "tools", "reason": reason}]}
        )
    return name


def _new_tool(tx: Tx, server: MCPServerRow, name: str) -> MCPToolRow:
    row = MCPToolRow(tenant_id=tx.tenant_id, server_id=server.id, name=name)
    row.first_seen_at = row.created_at = tx.now
    tx.session.add(row)
    return row


def _describe(
    tx: Tx,
    row: MCPToolRow,
    tool: Mapping[str, Any],
    digest: str,
    labels: tuple[Sequence[str], str | None],
) -> None:
    description = tool.get("description")
    schema = tool.get("inputSchema")
    row.description = description if isinstance(description, str) else None
    row.input_schema = dict(schema) if isinstance(schema, Mapping) else {}
    row.tags, row.category = list(labels[0]), labels[1]
    row.definition = dict(tool)
    row.definition_hash = digest
    row.available = True
    row.last_synced_at = row.updated_at = tx.now


def _record(row: MCPToolRow, server: str) -> ToolRecord:
    return ToolRecord(
        server=server,
        name=row.name,
        description=row.description,
        input_schema=row.input_schema,
        tags=tuple(row.tags),
        category=row.category,
        definition=row.definition,
        definition_hash=row.definition_hash,
        available=row.available,
        first_seen_at=row.first_seen_at,
        last_synced_at=row.last_synced_at,
    )
