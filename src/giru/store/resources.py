"""Reading and writing objects of every manifest kind through their adapters.

Write functions run inside a `Tx` (the revision lock is held) and record one change per write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from giru.errors import ConflictError, NotFoundError, PreconditionFailedError, ValidationError
from giru.store.clients import ClientAdapter
from giru.store.database import Tx
from giru.store.identities import IdentityProviderAdapter
from giru.store.kinds import KindAdapter, find_row
from giru.store.models import ResourceRow, new_id
from giru.store.policies import PolicyAdapter
from giru.store.records import Page, Resource
from giru.store.servers import MCPServerAdapter, VirtualServerAdapter
from giru.store.specs import canonical, decode_cursor, dump, encode_cursor, invalid
from giru.store.subscriptions import EnvironmentAdapter, SubscriptionAdapter

__all__ = [
    "ADAPTERS",
    "MAX_LIMIT",
    "adapter",
    "check_limit",
    "create",
    "delete",
    "every",
    "get",
    "insert",
    "load",
    "page",
    "remove",
    "resources",
    "update",
]

MAX_LIMIT = 1000
ADAPTERS: dict[str, KindAdapter[Any]] = {
    a.kind: a
    for a in (
        MCPServerAdapter(),
        VirtualServerAdapter(),
        ClientAdapter(),
        SubscriptionAdapter(),
        EnvironmentAdapter(),
        PolicyAdapter(),
        IdentityProviderAdapter(),
    )
}


def adapter(kind: str) -> KindAdapter[Any]:
    found = ADAPTERS.get(kind)
    if found is None:
        raise invalid(kind, "-", [("kind", f"unknown kind; expected one of {', '.join(ADAPTERS)}")])
    return found


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        reason = f"must be between 1 and {MAX_LIMIT}"
        raise ValidationError(
            f"limit: {reason}", data={"errors": [{"field": "limit", "reason": reason}]}
        )


async def resources(
    session: AsyncSession, kind: KindAdapter[Any], rows: Sequence[ResourceRow]
) -> list[Resource]:
    """Rows as `Resource`s, their status included."""
    statuses = await kind.statuses(session, rows)
    return [
        Resource(
            kind=kind.kind,
            name=row.name,
            uid=row.id,
            version=row.version,
            spec=kind.spec(row),
            status=statuses.get(row.id, {}),
            created_at=row.created_at,
            updated_at=row.updated_at,
            managed_by=row.managed_by,
        )
        for row in rows
    ]


async def load(
    session: AsyncSession,
    tenant_id: str,
    kind: KindAdapter[Any],
    name: str,
    expected_version: int | None = None,
) -> Any:
    """The row of `kind` named `name`; `NotFoundError`, or `PreconditionFailedError` when
    `expected_version` is given and is not its version."""
    row = await find_row(session, tenant_id, kind.row, name, kind.options())
    if row is None:
        raise NotFoundError(f"{kind.kind}/{name} not found", data={"kind": kind.kind, "name": name})
    if expected_version is not None and row.version != expected_version:
        message = f"{kind.kind}/{name} is at version {row.version}, not {expected_version}"
        raise PreconditionFailedError(message, data={"version": row.version})
    return row


async def get(session: AsyncSession, tenant_id: str, kind: str, name: str) -> Resource:
    found = adapter(kind)
    return (await resources(session, found, [await load(session, tenant_id, found, name)]))[0]


async def page(
    session: AsyncSession,
    tenant_id: str,
    kind: str,
    *,
    limit: int,
    cursor: str | None,
    filters: Mapping[str, str],
) -> Page[Resource]:
    """One page of `kind` ordered by name, after `cursor`."""
    check_limit(limit)
    found = adapter(kind)
    conditions = [found.row.tenant_id == tenant_id, *found.where(filters)]
    if cursor is not None:
        conditions.append(found.row.name > decode_cursor(cursor, 1)[0])
    query = (
        select(found.row)
        .where(*conditions)
        .order_by(found.row.name)
        .limit(limit + 1)
        .options(*found.options())
    )
    rows = list(await session.scalars(query))
    more, rows = len(rows) > limit, rows[:limit]
    items = await resources(session, found, rows)
    return Page(items, encode_cursor([rows[-1].name]) if more else None)


async def every(session: AsyncSession, tenant_id: str, kind: str) -> list[Resource]:
    """Every object of `kind`, by name."""
    found = adapter(kind)
    query = (
        select(found.row)
        .where(found.row.tenant_id == tenant_id)
        .order_by(found.row.name)
        .options(*found.options())
    )
    return await resources(session, found, list(await session.scalars(query)))


async def create(
    tx: Tx, kind: str, name: str, spec: Any, managed_by: str
) -> tuple[ResourceRow, str | None]:
    """Create `kind/name`; the row and a generated API key (a Client without key fields)."""
    found = adapter(kind)
    model = canonical(kind, name, spec)
    if await find_row(tx.session, tx.tenant_id, found.row, name) is not None:
        raise ConflictError(f"{kind}/{name} already exists", data={"kind": kind, "name": name})
    return await insert(tx, found, name, model, managed_by)


async def insert(
    tx: Tx, kind: KindAdapter[Any], name: str, model: BaseModel, managed_by: str
) -> tuple[ResourceRow, str | None]:
    """Write a new row for a validated spec (references checked here)."""
    await _check(tx, kind, name, model)
    model = await kind.prepare(tx, model, None)
    row = kind.row(id=new_id(), tenant_id=tx.tenant_id, name=name, version=1)
    row.managed_by, row.created_at, row.updated_at = managed_by, tx.now, tx.now
    await kind.assign(tx, row, model, None)
    tx.session.add(row)
    api_key = await kind.created(tx, row, model)
    await tx.session.flush()
    tx.record("create", kind.kind, name, 1, {"managedBy": managed_by})
    return row, api_key


async def update(
    tx: Tx, kind: KindAdapter[Any], row: Any, model: BaseModel, managed_by: str | None = None
) -> bool:
    """Store a validated spec on `row`; False (and nothing written) when nothing changes."""
    await _check(tx, kind, row.name, model)
    model = await kind.prepare(tx, model, row)
    previous = kind.spec(row)
    owner = row.managed_by if managed_by is None else managed_by
    if dump(model) == previous and owner == row.managed_by:
        return False
    await kind.assign(tx, row, model, previous)
    row.version, row.updated_at, row.managed_by = row.version + 1, tx.now, owner
    await tx.session.flush()
    tx.record("update", kind.kind, row.name, row.version, {"managedBy": owner})
    return True


async def delete(tx: Tx, kind: str, name: str, expected_version: int | None) -> None:
    found = adapter(kind)
    await remove(tx, found, await load(tx.session, tx.tenant_id, found, name, expected_version))


async def remove(tx: Tx, kind: KindAdapter[Any], row: Any) -> None:
    """Delete `row`; `ConflictError` code `in_use` naming what still references it."""
    users = await kind.users(tx.session, row)
    if users:
        message = f"{kind.kind}/{row.name} is used by {', '.join(users)}"
        raise ConflictError(message, code="in_use", data={"usedBy": users})
    await tx.session.delete(row)
    await tx.session.flush()
    tx.record("delete", kind.kind, row.name, row.version)


async def _check(tx: Tx, kind: KindAdapter[Any], name: str, model: BaseModel) -> None:
    problems = await kind.check(tx, name, model)
    if problems:
        raise invalid(kind.kind, name, problems)
