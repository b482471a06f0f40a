"""Migrations: upgrade → downgrade → upgrade on PostgreSQL, and the models match the head."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Connection, MetaData, String, inspect, text

from giru.errors import ConfigError
from giru.store import Database, Store
from giru.store.database import alembic_config
from giru.store.models import Base
from tests.integration.store.data import PEPPER

pytestmark = pytest.mark.integration

TABLES = set(Base.metadata.tables)


def _downgrade(connection: Connection) -> None:
    command.downgrade(alembic_config(connection), "base")


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _diff(connection: Connection, metadata: MetaData = Base.metadata) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _changed_models() -> MetaData:
    """The models plus one column: the comparison must notice it."""
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["clients"].append_column(Column("colour", String(10)))
    return changed


async def test_upgrade_downgrade_upgrade_on_postgresql(postgres_url: str) -> None:
    database = Database(postgres_url)
    try:
        await database.migrate()
        async with database.engine.begin() as connection:
            assert await connection.run_sync(_tables) == TABLES | {"alembic_version"}
            await connection.run_sync(_downgrade)
        async with database.engine.connect() as connection:
            assert await connection.run_sync(_tables) == {"alembic_version"}
        await database.migrate()
        async with database.engine.connect() as connection:
            assert await connection.run_sync(_tables) == TABLES | {"alembic_version"}
            tenants = await connection.execute(text("SELECT name FROM tenants"))
            assert tenants.scalars().all() == ["default"]
            assert (await connection.execute(text("SELECT value FROM revisions"))).scalar() == 0
    finally:
        await database.aclose()
    store = await Store.open(postgres_url, pepper=PEPPER)
    try:
        assert [r.name for r in (await store.list("Environment")).items] == [
            "dev",
            "prod",
            "staging",
        ]
    finally:
        await store.aclose()


async def test_the_models_match_the_migrated_schema(database_url: str) -> None:
    database = Database(database_url)
    try:
        await database.migrate()
        await database.migrate()  # already at head: nothing to do
        async with database.engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
            [(action, *_)] = await connection.run_sync(_diff, _changed_models())
            assert action == "add_column"
    finally:
        await database.aclose()


async def test_a_schema_newer_than_this_giru_is_refused_and_left_alone(database_url: str) -> None:
    database = Database(database_url)
    try:
        await database.migrate()
        async with database.engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '0999_later'"))
        with pytest.raises(ConfigError, match="0999_later, newer than this Giru knows"):
            await database.migrate()
        async with database.engine.connect() as connection:
            version = await connection.execute(text("SELECT version_num FROM alembic_version"))
            assert version.scalar() == "0999_later"
            assert await connection.run_sync(_tables) == TABLES | {"alembic_version"}
    finally:
        await database.aclose()
