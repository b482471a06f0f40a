"""Queries of the `secrets` table; what they return is a `SecretRecord`, never a row.

Setting and deleting a secret are changes (recorded, and they bump the revision, so every worker
drops what it read of the secret), except for runtime state (`change=False`: a connection's
tokens, a client registration), which is written without a change record or a new revision: a
token refresh must not reload every worker. Re-wrapping a data key under a new key-encryption key
is not a change either (the value is the same), and is refused when the secret changed meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from giru.store.database import Tx
from giru.store.models import SecretRow
from giru.store.records import Page, SecretRecord

__all__ = ["Placement", "find", "page", "put", "remove", "rewrap", "sealed_by_other_keys"]


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a new version of a secret's value went (from its backend)."""

    backend: str
    entries: tuple[str, ...]
    size: int
    version: int | None = None
    """The backend's own version number (Vault's); None: one more than the stored one."""
    reference: str | None = None
    key_id: str | None = None
    wrapped_key: bytes | None = None
    ciphertext: bytes | None = None


async def find(session: AsyncSession, tenant_id: str, name: str) -> SecretRecord | None:
    row = await session.scalar(_by_name(tenant_id, name))
    return None if row is None else _record(row)


async def page(
    session: AsyncSession, tenant_id: str, *, limit: int, cursor: str | None
) -> Page[SecretRecord]:
    """Secrets by name, `limit` at a time; the cursor is the last name of the previous page."""
    query = select(SecretRow).where(SecretRow.tenant_id == tenant_id)
    if cursor:
        query = query.where(SecretRow.name > cursor)
    rows = list(await session.scalars(query.order_by(SecretRow.name).limit(limit + 1)))
    more = len(rows) > limit
    items = [_record(row) for row in rows[:limit]]
    return Page(items, items[-1].name if more and items else None)


async def put(
    tx: Tx, name: str, placed: Placement, *, change: bool = True
) -> tuple[SecretRecord, bool]:
    """Store a new version of `name`; (its record, whether it was created). `change=False`:
    runtime state, no change record and no new revision."""
    row = await tx.session.scalar(_by_name(tx.tenant_id, name).with_for_update())
    created = row is None
    if row is None:
        row = SecretRow(tenant_id=tx.tenant_id, name=name, version=0, created_at=tx.now)
        tx.session.add(row)
    row.version = placed.version if placed.version is not None else row.version + 1
    row.backend, row.entries, row.size = placed.backend, list(placed.entries), placed.size
    row.reference, row.key_id = placed.reference, placed.key_id
    row.wrapped_key, row.ciphertext = placed.wrapped_key, placed.ciphertext
    row.updated_at, row.updated_by = tx.now, tx.actor
    await tx.session.flush()
    detail = {"backend": placed.backend, "entries": list(placed.entries)}
    if change:
        tx.record("create" if created else "update", "Secret", name, row.version, detail)
    else:
        tx.touched = True
    return _record(row), created


async def remove(tx: Tx, name: str, *, change: bool = True) -> SecretRecord | None:
    """Delete `name`; what it was (None: there was no such secret). `change` as in `put`."""
    row = await tx.session.scalar(_by_name(tx.tenant_id, name).with_for_update())
    if row is None:
        return None
    await tx.session.execute(delete(SecretRow).where(SecretRow.id == row.id))
    if change:
        tx.record("delete", "Secret", name, row.version, {"backend": row.backend})
    else:
        tx.touched = True
    return _record(row)


async def sealed_by_other_keys(
    session: AsyncSession, tenant_id: str, key_id: str, *, limit: int
) -> list[SecretRecord]:
    """Up to `limit` database-backend secrets whose data key another KEK wrapped."""
    query = (
        select(SecretRow)
        .where(
            SecretRow.tenant_id == tenant_id,
            SecretRow.backend == "database",
            SecretRow.key_id != key_id,
        )
        .order_by(SecretRow.name)
        .limit(limit)
    )
    return [_record(row) for row in await session.scalars(query)]


async def rewrap(tx: Tx, record: SecretRecord, key_id: str, wrapped_key: bytes) -> bool:
    """Replace the wrapped data key of `record` if the secret is still that version."""
    result = await tx.session.execute(
        update(SecretRow)
        .where(
            SecretRow.tenant_id == tx.tenant_id,
            SecretRow.name == record.name,
            SecretRow.version == record.version,
            SecretRow.key_id == record.key_id,
        )
        .values(key_id=key_id, wrapped_key=wrapped_key)
    )
    tx.touched = True
    return bool(getattr(result, "rowcount", 0))


def _by_name(tenant_id: str, name: str) -> Select[SecretRow]:
    return select(SecretRow).where(SecretRow.tenant_id == tenant_id, SecretRow.name == name)


def _record(row: SecretRow) -> SecretRecord:
    return SecretRecord(
        name=row.name,
        backend=row.backend,
        version=row.version,
        entries=tuple(row.entries),
        size=row.size,
        created_at=row.created_at,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        reference=row.reference,
        key_id=row.key_id,
        wrapped_key=row.wrapped_key,
        ciphertext=row.ciphertext,
    )
