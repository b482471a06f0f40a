"""The `Client` kind: its table, its keys, and what references it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from giru.access.apikeys import split_stored
from giru.manifests.documents import ClientSpec
from giru.store.database import Tx
from giru.store.keys import active_keys, add_generated_key, add_key
from giru.store.kinds import KindAdapter, server_refs
from giru.store.models import ClientKeyRow, ClientRow, SubscriptionRow
from giru.store.specs import Problem, dump, ordered, timestamp_text

__all__ = ["ClientAdapter"]


class ClientAdapter(KindAdapter[ClientRow]):
    """The whole canonical spec is `config`; a spec's `apiKeyHash` is also a `client_keys` row."""

    kind = "Client"
    model = ClientSpec
    row = ClientRow

    def spec(self, row: ClientRow) -> dict[str, Any]:
        # Rows written before `claims` existed hold none: the canonical spec has `{}`.
        return ordered(ClientSpec, {"claims": {}, **row.config})

    async def statuses(
        self, session: AsyncSession, rows: Sequence[ClientRow]
    ) -> dict[str, dict[str, Any]]:
        keys = await active_keys(session, [row.id for row in rows])
        return {
            row.id: {
                "keys": [
                    {
                        "id": key.id,
                        "prefix": key.prefix,
                        "source": key.source,
                        "createdAt": timestamp_text(key.created_at),
                    }
                    for key in keys.get(row.id, [])
                ]
            }
            for row in rows
        }

    async def check(self, tx: Tx, name: str, spec: ClientSpec) -> list[Problem]:
        problems = await server_refs(tx, spec.servers, spec.tools, wildcard=True)
        return problems + await _shared_key_problems(tx, name, spec)

    async def assign(
        self, tx: Tx, row: ClientRow, spec: ClientSpec, previous: dict[str, Any] | None
    ) -> None:
        row.status = "active"
        row.config = dump(spec)
        old = None if previous is None else previous.get("apiKeyHash")
        if old == spec.api_key_hash:
            return
        if old is not None:
            await tx.session.execute(
                update(ClientKeyRow)
                .where(
                    ClientKeyRow.client_id == row.id,
                    ClientKeyRow.source == "spec",
                    ClientKeyRow.revoked_at.is_(None),
                )
                .values(revoked_at=tx.now, updated_at=tx.now)
            )
        if spec.api_key_hash is not None:
            add_key(tx, row, spec.api_key_hash, "spec", split_stored(spec.api_key_hash)[0])

    async def created(self, tx: Tx, row: ClientRow, spec: ClientSpec) -> str | None:
        if spec.api_key_hash is not None or spec.api_key_env is not None:
            return None
        return add_generated_key(tx, row)[1]

    async def users(self, session: AsyncSession, row: ClientRow) -> list[str]:
        names = await session.scalars(
            select(SubscriptionRow.name)
            .where(SubscriptionRow.client_id == row.id)
            .order_by(SubscriptionRow.name)
        )
        return [f"Subscription/{name}" for name in names]


async def _shared_key_problems(tx: Tx, name: str, spec: ClientSpec) -> list[Problem]:
    """A key identifies one client: refuse a hash or variable another client already uses."""
    problems: list[Problem] = []
    if spec.api_key_hash is not None:
        owners = await tx.session.scalars(
            select(ClientRow.name)
            .join(ClientKeyRow, ClientKeyRow.client_id == ClientRow.id)
            .where(
                ClientKeyRow.tenant_id == tx.tenant_id,
                ClientKeyRow.hash == spec.api_key_hash,
                ClientKeyRow.revoked_at.is_(None),
                ClientRow.name != name,
            )
        )
        problems += [("spec.apiKeyHash", f"same key as Client/{owner}") for owner in owners]
    if spec.api_key_env is not None:
        configs = await tx.session.execute(
            select(ClientRow.name, ClientRow.config).where(
                ClientRow.tenant_id == tx.tenant_id, ClientRow.name != name
            )
        )
        problems += [
            ("spec.apiKeyEnv", f"same key as Client/{owner}")
            for owner, config in configs
            if config.get("apiKeyEnv") == spec.api_key_env
        ]
    return problems
