"""`Store`: the control plane's state, one transaction per method, dataclasses out."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from giru.access.apikeys import generate_key
from giru.errors import ConfigError
from giru.manifests.config import default_environments
from giru.store import audit, catalog, keys, people, resources, usage
from giru.store.apply import apply_documents
from giru.store.audit import AuditEntry, AuditOrder, AuditQuery
from giru.store.changes import change_page
from giru.store.database import Database, Tx, utcnow
from giru.store.kinds import find_row
from giru.store.models import DEFAULT_TENANT, ClientKeyRow, ClientRow, RevisionRow, TenantRow
from giru.store.records import (
    APPLY_ORDER,
    AdminKeyInfo,
    Applied,
    ChangeRecord,
    KeyInfo,
    Kind,
    Page,
    Resource,
    SyncResult,
    ToolRecord,
)
from giru.store.specs import canonical
from giru.store.subscriptions import expire, transition
from giru.store.usage import GroupBy, UsageQuery, UsageSummary

__all__ = ["Store"]

Documents = tuple[int, list[tuple[Kind, str, dict[str, Any]]], dict[str, tuple[str, ...]]]
_SYSTEM = "system"


class Store:
    """The objects of every manifest kind, keys, the tool catalog and the change log.

    Open with `Store.open(url, pepper=...)`; `pepper` keys the HMAC of the API keys the store
    generates, so it must stay the same across restarts and processes.
    """

    def __init__(self, database: Database, tenant_id: str, pepper: bytes) -> None:
        self.database = database
        self._tenant = tenant_id
        self._pepper = pepper

    @classmethod
    async def open(cls, url: str, *, pepper: bytes) -> Store:
        """Connect, migrate the schema to the newest version, and create the default objects."""
        database = Database(url)
        try:
            await database.migrate()
            async with database.read() as session:
                tenant = await session.scalar(
                    select(TenantRow.id).where(TenantRow.name == DEFAULT_TENANT)
                )
            if tenant is None:
                raise ConfigError(f"{url}: the database has no {DEFAULT_TENANT!r} tenant")
            store = cls(database, tenant, pepper)
            await store._seed()
        except BaseException:
            await database.aclose()
            raise
        return store

    async def aclose(self) -> None:
        await self.database.aclose()

    @property
    def tenant_id(self) -> str:
        """The tenant this store reads and writes (for queries kept beside their domain)."""
        return self._tenant

    async def _seed(self) -> None:
        environments = resources.adapter("Environment")
        async with self._write(_SYSTEM) as tx:
            for name, environment in default_environments().items():
                if await find_row(tx.session, tx.tenant_id, environments.row, name) is None:
                    await resources.insert(tx, environments, name, environment.spec, _SYSTEM)

    def _write(self, actor: str, *, dry_run: bool = False) -> AbstractAsyncContextManager[Tx]:
        return self.database.write(self._tenant, actor=actor, pepper=self._pepper, dry_run=dry_run)

    async def revision(self) -> int:
        """The counter every committed change bumps (0 for a new database)."""
        async with self.database.read() as session:
            value = await session.scalar(
                select(RevisionRow.value).where(RevisionRow.tenant_id == self._tenant)
            )
        return value or 0

    # objects of the manifest kinds

    async def list(
        self,
        kind: Kind,
        *,
        limit: int = 100,
        cursor: str | None = None,
        filters: Mapping[str, str] | None = None,
    ) -> Page[Resource]:
        """Objects of `kind` by name. Filters: `name` (a prefix); MCPServer `transport`,
        `health`; Subscription `client`, `server`, `status`, `environment`."""
        async with self.database.read() as session:
            return await resources.page(
                session, self._tenant, kind, limit=limit, cursor=cursor, filters=filters or {}
            )

    async def get(self, kind: Kind, name: str) -> Resource:
        async with self.database.read() as session:
            return await resources.get(session, self._tenant, kind, name)

    async def create(
        self, kind: Kind, name: str, spec: Mapping[str, Any], *, actor: str, managed_by: str = "api"
    ) -> tuple[Resource, str | None]:
        """Create an object; with it, the API key generated for a Client without key fields."""
        async with self._write(actor) as tx:
            row, api_key = await resources.create(tx, kind, name, spec, managed_by)
            found = resources.adapter(kind)
            created = await resources.resources(tx.session, found, [row])
        return created[0], api_key

    async def replace(
        self,
        kind: Kind,
        name: str,
        spec: Mapping[str, Any],
        *,
        actor: str,
        expected_version: int | None = None,
    ) -> Resource:
        """Replace an object's spec; the same canonical spec changes nothing (not the version)."""
        found = resources.adapter(kind)
        async with self._write(actor) as tx:
            row = await resources.load(tx.session, self._tenant, found, name, expected_version)
            await resources.update(tx, found, row, canonical(kind, name, spec))
            replaced = await resources.resources(tx.session, found, [row])
        return replaced[0]

    async def delete(
        self, kind: Kind, name: str, *, actor: str, expected_version: int | None = None
    ) -> None:
        async with self._write(actor) as tx:
            await resources.delete(tx, kind, name, expected_version)

    async def transition(
        self,
        name: str,
        action: Literal["approve", "reject", "suspend", "resume"],
        *,
        actor: str,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> Resource:
        """Approve, reject, suspend or resume a subscription; `reason` goes to the change log."""
        found = resources.adapter("Subscription")
        async with self._write(actor) as tx:
            row = await resources.load(tx.session, self._tenant, found, name, expected_version)
            transition(tx, row, action, reason)
            moved = await resources.resources(tx.session, found, [row])
        return moved[0]

    async def expire_subscriptions(self) -> builtins.list[str]:
        """Mark subscriptions whose `expiresAt` has passed as expired; their names."""
        async with self._write(_SYSTEM) as tx:
            return await expire(tx)

    async def apply(
        self,
        documents: Sequence[tuple[Kind, str, Mapping[str, Any]]],
        *,
        actor: str,
        managed_by: str = "api",
        prune: bool = False,
        dry_run: bool = False,
        adopt: bool = False,
    ) -> builtins.list[Applied]:
        """Apply documents in one transaction (see `giru.store.apply`); `dry_run` writes nothing
        and returns no keys."""
        async with self._write(actor, dry_run=dry_run) as tx:
            applied = await apply_documents(
                tx, documents, managed_by=managed_by, prune=prune, adopt=adopt
            )
        if dry_run:
            return [Applied(a.kind, a.name, a.action) for a in applied]
        return applied

    async def documents(self) -> Documents:
        """(revision, every object as (kind, name, spec), client name → its generated keys'
        hashes, each filed under its key's identifier when it has one: `giru_<id>:hmac-…`):
        one consistent snapshot, what the data path compiles its config from."""
        async with self.database.snapshot(self._tenant) as session:
            revision = await session.scalar(
                select(RevisionRow.value).where(RevisionRow.tenant_id == self._tenant)
            )
            objects: builtins.list[tuple[Kind, str, dict[str, Any]]] = []
            for kind in APPLY_ORDER:
                everything = await resources.every(session, self._tenant, kind)
                objects += [(kind, item.name, item.spec) for item in everything]
            hashes = await session.execute(
                select(ClientRow.name, ClientKeyRow.hash, ClientKeyRow.prefix)
                .join(ClientKeyRow, ClientKeyRow.client_id == ClientRow.id)
                .where(
                    ClientRow.tenant_id == self._tenant,
                    ClientKeyRow.source == "generated",
                    ClientKeyRow.revoked_at.is_(None),
                )
                .order_by(ClientRow.name, ClientKeyRow.created_at, ClientKeyRow.id)
            )
            client_keys: dict[str, tuple[str, ...]] = {}
            for client, digest, prefix in hashes:
                filed = digest if prefix is None else f"{prefix}:{digest}"  # its identifier
                client_keys[client] = (*client_keys.get(client, ()), filed)
        return revision or 0, objects, client_keys

    # people

    async def revoke_person(self, label: str, *, actor: str, families: int) -> datetime:
        """Refuse every access token issued to the person `label` until now (see
        `giru.identity.revocations`); the not-before time."""
        async with self._write(actor) as tx:
            return await people.revoke(tx, label, families)

    async def person_revocations(self) -> dict[str, datetime]:
        """The not-before time of every person whose access was revoked, by lowercase label."""
        async with self.database.read() as session:
            return await people.not_befores(session, self._tenant)

    # keys

    async def add_client_key(self, client: str, *, actor: str) -> tuple[KeyInfo, str]:
        """A new generated key for `client` (the key is returned here only)."""
        async with self._write(actor) as tx:
            row = await keys.client_row(tx.session, self._tenant, client)
            key_row, key = keys.add_generated_key(tx, row)
            await tx.session.flush()
            tx.record("add_key", "Client", client, row.version, {"key": key_row.id})
        return keys.key_info(key_row, client), key

    async def revoke_client_key(self, client: str, key_id: str, *, actor: str) -> None:
        async with self._write(actor) as tx:
            row = await keys.client_row(tx.session, self._tenant, client)
            await keys.revoke_client_key(tx, row, key_id)

    async def list_client_keys(self, client: str) -> builtins.list[KeyInfo]:
        """The client's active keys, oldest first."""
        async with self.database.read() as session:
            row = await keys.client_row(session, self._tenant, client)
            active = await keys.active_keys(session, [row.id])
        return [keys.key_info(key, client) for key in active.get(row.id, [])]

    async def ensure_admin_key(self, name: str, token: str, role: str) -> None:
        """Make `name` an active admin key for `token` with `role` (bootstrap; idempotent)."""
        async with self._write(_SYSTEM) as tx:
            await keys.put_admin_key(tx, name, token, role, replace=True)

    async def create_admin_key(
        self, name: str, role: str, *, actor: str
    ) -> tuple[AdminKeyInfo, str]:
        """A new admin key (returned here only); `ConflictError` if `name` is active."""
        token = generate_key()
        async with self._write(actor) as tx:
            row = await keys.put_admin_key(tx, name, token, role, replace=False)
        return keys.admin_info(row), token

    async def revoke_admin_key(self, name: str, *, actor: str) -> None:
        async with self._write(actor) as tx:
            await keys.revoke_admin_key(tx, name)

    async def list_admin_keys(self) -> builtins.list[AdminKeyInfo]:
        """Every admin key by name, revoked ones included (`revoked_at` set)."""
        async with self.database.read() as session:
            rows = await keys.admin_rows(session, self._tenant, active=False)
        return [keys.admin_info(row) for row in rows]

    async def admin_keys(self) -> dict[str, AdminKeyInfo]:
        """Active admin keys by their `hmac-sha256:` hash (for the API's authentication)."""
        async with self.database.read() as session:
            rows = await keys.admin_rows(session, self._tenant, active=True)
        return {row.hash: keys.admin_info(row) for row in rows}

    async def has_admin_keys(self) -> bool:
        return bool(await self.admin_keys())

    # catalog and health

    async def sync_tools(
        self,
        server: str,
        tools: Sequence[Mapping[str, Any]],
        *,
        tags: Mapping[str, Sequence[str]],
        categories: Mapping[str, str] | None = None,
    ) -> SyncResult:
        """Record what `server` lists now (`tags`, `categories`: by tool name, from its spec)."""
        async with self._write(_SYSTEM) as tx:
            row = await catalog.server_row(tx.session, self._tenant, server)
            return await catalog.sync(tx, row, tools, tags, categories or {})

    async def set_tools_available(self, server: str, available: bool) -> None:
        async with self._write(_SYSTEM) as tx:
            row = await catalog.server_row(tx.session, self._tenant, server)
            await catalog.set_available(tx, row, available)

    async def list_tools(
        self,
        *,
        server: str | None = None,
        tag: str | None = None,
        q: str | None = None,
        available: bool | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[ToolRecord]:
        """Tools by (server, name); `q` matches name or description, case-insensitively."""
        query = catalog.ToolQuery(server=server, tag=tag, q=q, available=available)
        async with self.database.read() as session:
            return await catalog.tool_page(
                session,
                self._tenant,
                query,
                dialect=self.database.dialect,
                limit=limit,
                cursor=cursor,
            )

    async def record_health(self, server: str, health: str, error: str | None) -> None:
        async with self._write(_SYSTEM) as tx:
            row = await catalog.server_row(tx.session, self._tenant, server)
            catalog.record_health(tx, row, health, error)

    async def list_changes(
        self,
        *,
        kind: str | None = None,
        name: str | None = None,
        action: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[ChangeRecord]:
        async with self.database.read() as session:
            return await change_page(
                session,
                self._tenant,
                kind=kind,
                name=name,
                action=action,
                limit=limit,
                cursor=cursor,
            )

    # usage

    async def insert_usage(self, records: Sequence[Mapping[str, Any]]) -> int:
        """Insert usage records (`giru.metering.UsageRecord`) in one transaction, skipping those
        whose `event_id` is stored already; the number inserted."""
        # Not `_write`: usage rows change nothing the data path reads, so they take no revision
        # lock and leave the revision alone (the drain must not wait behind config writes).
        if self.database.batches is not None:
            return await usage.insert_batch(self.database.batches, self._tenant, records, utcnow())
        async with self.database.connection() as connection:
            inserted = await usage.insert(
                connection, self.database.dialect, self._tenant, records, utcnow()
            )
            await connection.commit()
        return inserted

    async def usage_summary(
        self,
        *,
        client: str | None = None,
        subscription: str | None = None,
        server: str | None = None,
        tool: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        group_by: GroupBy | None = None,
        person: str | None = None,
    ) -> builtins.list[UsageSummary]:
        """Usage totals and duration percentiles per group (see `giru.store.usage.summary`);
        days are the tenant's calendar days."""
        query = UsageQuery(client, subscription, server, tool, since, until, group_by, person)
        async with self.database.read() as session:
            zone = usage.zone(await self._timezone(session))
            return await usage.summary(session, self._tenant, query, zone)

    async def quota_counts(self, now: datetime, tz: str) -> dict[str, tuple[int, int]]:
        """Admitted calls per subscription as (this day, this month) of time zone `tz`."""
        zone = usage.zone(tz)
        async with self.database.read() as session:
            return await usage.quota_counts(session, self._tenant, now, zone)

    # audit

    async def insert_audit(self, records: Sequence[Mapping[str, Any]]) -> int:
        """Append chained audit records (`giru.audit.ChainedRecord`) in one transaction; the
        number inserted. `ConflictError` (code `audit_conflict`, nothing inserted) when an
        event id or a (node, seq) is stored already."""
        # Not `_write`: like usage, audit rows take no revision lock and leave it alone.
        if self.database.batches is not None:
            return await audit.insert_batch(self.database.batches, self._tenant, records, utcnow())
        async with self.database.connection() as connection:
            inserted = await audit.insert_records(
                connection, self._tenant, records, utcnow(), self.database.dialect
            )
            await connection.commit()
        return inserted

    async def audit_known(self, event_ids: Sequence[str]) -> set[str]:
        """The event ids among `event_ids` that are stored already."""
        async with self.database.read() as session:
            return await audit.known(session, event_ids)

    async def audit_record(self, event_id: str) -> AuditEntry | None:
        """The audit record with `event_id`; None when there is none."""
        async with self.database.read() as session:
            return await audit.record(session, self._tenant, event_id)

    async def audit_head(self, node: str) -> tuple[int, str] | None:
        """(seq, hash) of the newest audit record of `node`; None when it has none."""
        async with self.database.read() as session:
            return await audit.head(session, node)

    async def list_audit(
        self,
        filters: AuditQuery | None = None,
        *,
        cursor: str | None = None,
        limit: int = 100,
        order: AuditOrder = "newest",
    ) -> Page[AuditEntry]:
        """Audit records matching `filters` by time, newest (or oldest) first."""
        async with self.database.read() as session:
            return await audit.page(
                session,
                self._tenant,
                filters or AuditQuery(),
                order=order,
                limit=limit,
                cursor=cursor,
                dialect=self.database.dialect,
            )

    async def count_audit(self, node: str | None = None) -> int:
        async with self.database.read() as session:
            return await audit.count(session, node)

    def audit_chain(
        self, *, node: str | None = None, chunk: int = 1000
    ) -> AsyncIterator[AuditEntry]:
        """Every audit record (of `node`) in (node, seq) order, `chunk` rows per query: what
        verification and export read."""
        return audit.chain(self.database, node=node, chunk=chunk)

    async def timezone(self) -> str:
        """The tenant's time zone (IANA name; `UTC` unless changed in the database)."""
        async with self.database.read() as session:
            return await self._timezone(session)

    async def _timezone(self, session: AsyncSession) -> str:
        name = await session.scalar(select(TenantRow.timezone).where(TenantRow.id == self._tenant))
        return name or "UTC"
