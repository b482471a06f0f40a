"""People whose access an administrator revoked: a not-before time per person, written with a
change record (so every worker reloads) and read on every reload."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from giru.store.database import Tx
from giru.store.models import PersonRevocationRow

__all__ = ["not_befores", "revoke"]

_NAME_MAX = 100  # a change record's name column; the whole label is in its detail
KIND = "Person"
"""The kind of a revocation's change record (`GET /api/v1/changes?kind=Person`)."""


async def revoke(tx: Tx, label: str, families: int) -> datetime:
    """Refuse the tokens issued to the person `label` until now; the not-before time. The change
    record names who revoked whom and how many refresh-token families went with it."""
    key = label.lower()
    row = await tx.session.scalar(
        select(PersonRevocationRow).where(
            PersonRevocationRow.tenant_id == tx.tenant_id, PersonRevocationRow.label == key
        )
    )
    if row is None:
        row = PersonRevocationRow(tenant_id=tx.tenant_id, label=key, created_at=tx.now)
        tx.session.add(row)
    row.not_before, row.revoked_by, row.updated_at = tx.now, tx.actor, tx.now
    detail = {"person": key, "refreshFamilies": families}
    tx.record("revoke", KIND, key[:_NAME_MAX], None, detail)
    return tx.now


async def not_befores(session: AsyncSession, tenant_id: str) -> dict[str, datetime]:
    """Every revoked person's not-before time, by lowercase label."""
    rows = await session.execute(
        select(PersonRevocationRow.label, PersonRevocationRow.not_before).where(
            PersonRevocationRow.tenant_id == tenant_id
        )
    )
    return {label: at for label, at in rows}
