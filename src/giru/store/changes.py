"""The change log: one record per write, newest first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from giru.store.models import ChangeRow
from giru.store.records import ChangeRecord, Page
from giru.store.resources import check_limit
from giru.store.specs import bad_cursor, decode_cursor, encode_cursor

__all__ = ["change_page"]


async def change_page(
    session: AsyncSession,
    tenant_id: str,
    *,
    kind: str | None,
    name: str | None,
    action: str | None,
    limit: int,
    cursor: str | None,
) -> Page[ChangeRecord]:
    """Changes (of `kind`, of `name`, of `action`) from the newest, after `cursor`."""
    check_limit(limit)
    conditions = [ChangeRow.tenant_id == tenant_id]
    if kind is not None:
        conditions.append(ChangeRow.kind == kind)
    if name is not None:
        conditions.append(ChangeRow.name == name)
    if action is not None:
        conditions.append(ChangeRow.action == action)
    if cursor is not None:
        at, change_id = _position(cursor)
        conditions.append(or_(ChangeRow.at < at, (ChangeRow.at == at) & (ChangeRow.id < change_id)))
    query = (
        select(ChangeRow)
        .where(*conditions)
        .order_by(ChangeRow.at.desc(), ChangeRow.id.desc())
        .limit(limit + 1)
    )
    rows = list(await session.scalars(query))
    more, rows = len(rows) > limit, rows[:limit]
    last = rows[-1] if more else None
    next_cursor = None if last is None else encode_cursor([last.at.isoformat(), last.id])
    return Page([_record(row) for row in rows], next_cursor)


def _position(cursor: str) -> tuple[datetime, str]:
    at, change_id = decode_cursor(cursor, 2)
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise bad_cursor()
    return moment, change_id


def _record(row: ChangeRow) -> ChangeRecord:
    return ChangeRecord(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        kind=row.kind,
        name=row.name,
        version=row.version,
        detail=row.detail,
    )
