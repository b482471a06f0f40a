"""The engine, its migrations, and the one way to write: a transaction that locks the revision.

Every write transaction first locks its tenant's `revisions` row (PostgreSQL `FOR UPDATE`; on
SQLite a no-op update, which takes the database's write lock). Writers therefore run one at a
time even across processes, so existence and reference checks made inside a write cannot be
invalidated before it commits; the row is bumped at the end when the transaction changed
anything the data path or the API reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from giru.errors import ConfigError, StoreUnavailableError
from giru.store.models import ChangeRow, RevisionRow
from giru.store.sqlite import BatchWriter

__all__ = ["Database", "Tx", "alembic_config", "utcnow"]

_MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK = 0x67697275  # "giru": one PostgreSQL advisory lock id for schema upgrades
_SQLITE_PRAGMAS = (
    "PRAGMA foreign_keys=ON",
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA synchronous=NORMAL",
)
_TIMEOUT = 30.0


def utcnow() -> datetime:
    return datetime.now(UTC)


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """Alembic's configuration for Giru's migrations, run on `connection` (or against `url`)."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


@dataclass(slots=True)
class Tx:
    """One write transaction: its session, its tenant, its clock and who is writing.

    Call `record` for each change made; set `touched` for writes that are not changes (a
    health check's timestamp). Nothing is committed when neither happened.
    """

    session: AsyncSession
    tenant_id: str
    actor: str
    pepper: bytes
    now: datetime = field(default_factory=utcnow)
    changed: bool = False
    touched: bool = False

    def record(
        self,
        action: str,
        kind: str,
        name: str,
        version: int | None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Add a change record to this transaction (and mark it as a change)."""
        self.changed = True
        self.session.add(
            ChangeRow(
                tenant_id=self.tenant_id,
                at=self.now,
                actor=self.actor,
                action=action,
                kind=kind,
                name=name,
                version=version,
                detail=detail or {},
                created_at=self.now,
                updated_at=self.now,
            )
        )


class Database:
    """An async engine on SQLite (aiosqlite) or PostgreSQL (asyncpg), and its sessions."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self.engine = create_async_engine(url, **self._engine_options())
        self.batches: BatchWriter | None = None
        """SQLite (a file): the drains' batch inserts, one hand-off per batch."""
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            if parsed.database and parsed.database != ":memory:" and not parsed.query:
                self.batches = BatchWriter(parsed.database, _SQLITE_PRAGMAS)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    def _engine_options(self) -> dict[str, Any]:
        if self.dialect == "postgresql":
            settings = {"statement_timeout": str(int(_TIMEOUT * 1000))}
            connect = {"timeout": 10, "command_timeout": _TIMEOUT, "server_settings": settings}
            return {"pool_pre_ping": True, "connect_args": connect}
        return {}

    async def aclose(self) -> None:
        if self.batches is not None:
            await self.batches.aclose()
        await self.engine.dispose()

    async def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to `revision`; concurrent callers on PostgreSQL take turns.

        Raises:
            ConfigError: the schema is newer than this Giru's migrations.
        """
        async with self.engine.connect() as connection:
            if self.dialect == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK}
                )
            await connection.run_sync(_upgrade, revision)
            await connection.commit()

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        """A session whose connection failures surface as `StoreUnavailableError`."""
        try:
            async with self.sessions() as session:
                yield session
        except (OperationalError, InterfaceError, OSError) as exc:
            raise StoreUnavailableError(f"the database is unavailable: {exc}"[:300]) from exc

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection, no ORM session (the drains' batch inserts: a session's bookkeeping
        per batch is CPU on the event loop), whose connection failures surface as
        `StoreUnavailableError`; rolled back unless the body commits."""
        try:
            async with self.engine.connect() as connection:
                yield connection
        except (OperationalError, InterfaceError, OSError) as exc:
            raise StoreUnavailableError(f"the database is unavailable: {exc}"[:300]) from exc

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._session() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A transaction committed when the body returns, for rows outside the manifest kinds
        (no revision lock, no change record): their writes are made atomic by their own
        conditions (`UPDATE … WHERE used_at IS NULL`)."""
        async with self._session() as session, session.begin():
            yield session

    @asynccontextmanager
    async def write(
        self, tenant_id: str, *, actor: str, pepper: bytes = b"", dry_run: bool = False
    ) -> AsyncIterator[Tx]:
        """A write transaction, committed when the body returns having changed something."""
        async with self._session() as session:
            await self._lock(session, tenant_id, share=False)
            tx = Tx(session, tenant_id, actor, pepper)
            yield tx
            if dry_run or not (tx.changed or tx.touched):
                await session.rollback()
                return
            if tx.changed:
                await session.execute(
                    update(RevisionRow)
                    .where(RevisionRow.tenant_id == tenant_id)
                    .values(value=RevisionRow.value + 1, updated_at=tx.now)
                )
            await session.commit()

    @asynccontextmanager
    async def snapshot(self, tenant_id: str) -> AsyncIterator[AsyncSession]:
        """A read transaction that no write can interleave with (for consistent exports)."""
        async with self._session() as session:
            await self._lock(session, tenant_id, share=True)
            yield session
            await session.rollback()

    async def _lock(self, session: AsyncSession, tenant_id: str, *, share: bool) -> None:
        where = RevisionRow.tenant_id == tenant_id
        if self.dialect == "postgresql":
            locking = select(RevisionRow.value).where(where).with_for_update(read=share)
            await session.execute(locking)
        else:  # SQLite has one writer at a time: take the write lock now, not at the first write
            await session.execute(update(RevisionRow).where(where).values(value=RevisionRow.value))


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config(connection)
    _refuse_newer_schema(connection, ScriptDirectory.from_config(config))
    command.upgrade(config, revision)


def _refuse_newer_schema(connection: Connection, scripts: ScriptDirectory) -> None:
    """A schema migrated by a newer Giru is left alone: this version would misread it (a
    rollback of the image after an upgrade; docs/deployment/kubernetes.md, "Upgrade")."""
    known = {script.revision for script in scripts.walk_revisions()}
    current = MigrationContext.configure(connection).get_current_heads()
    unknown = sorted(head for head in current if head not in known)
    if unknown:
        raise ConfigError(
            f"the database schema is at revision {', '.join(unknown)}, newer than this Giru "
            f"knows (its newest is {scripts.get_current_head()}): run the Giru version that "
            "migrated it, or restore the backup taken before the upgrade"
        )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in _SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()
