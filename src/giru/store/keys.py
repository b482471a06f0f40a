"""API keys the store holds: clients' keys (generated or from the spec) and admin keys.

Only `hmac-sha256:<hex>` digests (keyed with the server's pepper) are stored for keys the store
generates; the plaintext is returned once by the call that made it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from giru.access.apikeys import generate_key, hmac_hash, key_id
from giru.errors import ConflictError, NotFoundError, ValidationError
from giru.store.database import Tx
from giru.store.kinds import find_row
from giru.store.models import AdminKeyRow, ClientKeyRow, ClientRow
from giru.store.records import AdminKeyInfo, KeyInfo

__all__ = [
    "ROLES",
    "active_keys",
    "add_generated_key",
    "add_key",
    "admin_info",
    "admin_rows",
    "client_row",
    "key_info",
    "put_admin_key",
    "revoke_admin_key",
    "revoke_client_key",
]

ROLES = ("admin", "operator", "viewer")
_ADMIN_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._@-]{0,98}[A-Za-z0-9])?")


def add_key(
    tx: Tx, client: ClientRow, digest: str, source: str, prefix: str | None
) -> ClientKeyRow:
    row = ClientKeyRow(
        tenant_id=tx.tenant_id,
        client=client,
        hash=digest,
        prefix=prefix,
        source=source,
        created_at=tx.now,
        updated_at=tx.now,
    )
    tx.session.add(row)
    return row


def add_generated_key(tx: Tx, client: ClientRow) -> tuple[ClientKeyRow, str]:
    """A new random key for `client`: its row (the HMAC of the key) and the key itself."""
    key = generate_key()
    row = add_key(tx, client, hmac_hash(key, tx.pepper), "generated", key_id(key))
    return row, key


async def active_keys(
    session: AsyncSession, client_ids: Sequence[str]
) -> dict[str, list[ClientKeyRow]]:
    """The unrevoked keys of each client (oldest first), by client id."""
    found: dict[str, list[ClientKeyRow]] = {}
    if not client_ids:
        return found
    query = (
        select(ClientKeyRow)
        .where(ClientKeyRow.client_id.in_(client_ids), ClientKeyRow.revoked_at.is_(None))
        .order_by(ClientKeyRow.created_at, ClientKeyRow.id)
    )
    for row in await session.scalars(query):
        found.setdefault(row.client_id, []).append(row)
    return found


def key_info(row: ClientKeyRow, client: str) -> KeyInfo:
    source = cast(Literal["spec", "generated"], row.source)
    return KeyInfo(row.id, client, row.prefix, source, row.created_at)


async def client_row(session: AsyncSession, tenant_id: str, name: str) -> ClientRow:
    row = await find_row(session, tenant_id, ClientRow, name)
    if row is None:
        raise NotFoundError(f"Client/{name} not found", data={"kind": "Client", "name": name})
    return row


async def revoke_client_key(tx: Tx, client: ClientRow, key_id: str) -> None:
    """Revoke one of the client's keys; a key its spec names changes with the spec only."""
    query = select(ClientKeyRow).where(
        ClientKeyRow.id == key_id,
        ClientKeyRow.client_id == client.id,
        ClientKeyRow.revoked_at.is_(None),
    )
    key = (await tx.session.scalars(query)).one_or_none()
    if key is None:
        raise NotFoundError(f"Client/{client.name} has no active key {key_id!r}")
    if key.source == "spec":
        message = f"key {key_id!r} is the spec's apiKeyHash; change the Client's spec instead"
        raise ConflictError(message, code="managed_by_spec")
    key.revoked_at = key.updated_at = tx.now
    tx.record("revoke_key", "Client", client.name, client.version, {"key": key_id})


def admin_info(row: AdminKeyRow) -> AdminKeyInfo:
    return AdminKeyInfo(row.name, row.role, row.created_at, row.revoked_at)


async def put_admin_key(tx: Tx, name: str, token: str, role: str, *, replace: bool) -> AdminKeyRow:
    """Store the admin key `name`; an active one is replaced only when `replace` is set."""
    _check_admin_key(name, role)
    digest = hmac_hash(token, tx.pepper)
    row = (
        await tx.session.scalars(
            select(AdminKeyRow).where(
                AdminKeyRow.tenant_id == tx.tenant_id, AdminKeyRow.name == name
            )
        )
    ).one_or_none()
    if row is None:
        row = AdminKeyRow(tenant_id=tx.tenant_id, name=name, role=role, hash=digest)
        row.created_at = row.updated_at = tx.now
        tx.session.add(row)
    elif row.revoked_at is None and not replace:
        raise ConflictError(f"admin key {name!r} already exists")
    elif row.revoked_at is None and row.hash == digest and row.role == role:
        return row  # already as wanted
    else:
        row.hash, row.role, row.revoked_at = digest, role, None
        row.created_at = row.updated_at = tx.now
    tx.record("create_admin_key", "AdminKey", name, None, {"role": role})
    return row


async def admin_rows(session: AsyncSession, tenant_id: str, *, active: bool) -> list[AdminKeyRow]:
    """Admin keys by name: every one, or only those not revoked."""
    query = select(AdminKeyRow).where(AdminKeyRow.tenant_id == tenant_id)
    if active:
        query = query.where(AdminKeyRow.revoked_at.is_(None))
    return list(await session.scalars(query.order_by(AdminKeyRow.name)))


async def revoke_admin_key(tx: Tx, name: str) -> None:
    query = select(AdminKeyRow).where(
        AdminKeyRow.tenant_id == tx.tenant_id,
        AdminKeyRow.name == name,
        AdminKeyRow.revoked_at.is_(None),
    )
    row = (await tx.session.scalars(query)).one_or_none()
    if row is None:
        raise NotFoundError(f"no active admin key named {name!r}", data={"name": name})
    row.revoked_at = row.updated_at = tx.now
    tx.record("revoke_admin_key", "AdminKey", name, None)


def _check_admin_key(name: str, role: str) -> None:
    errors = []
    if not _ADMIN_NAME.fullmatch(name):
        reason = "1-100 letters, digits and . _ @ -, starting and ending with a letter or digit"
        errors.append({"field": "name", "reason": reason})
    if role not in ROLES:
        errors.append({"field": "role", "reason": f"must be one of {', '.join(ROLES)}"})
    if errors:
        listed = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        raise ValidationError(f"admin key: {listed}", data={"errors": errors})
