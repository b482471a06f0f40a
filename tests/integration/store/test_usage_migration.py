"""Migration 0002 (usage): down to 0001 and up again on both backends, the view included."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import Connection, inspect, text

from giru.store import Database, Store
from giru.store.database import alembic_config
from tests.integration.store.data import PEPPER
from tests.unit.metering.data import record

pytestmark = pytest.mark.integration


def _downgrade(connection: Connection, revision: str) -> None:
    command.downgrade(alembic_config(connection), revision)


def _schema(connection: Connection) -> tuple[bool, bool, set[str]]:
    """(usage_records exists, usage_daily exists, the columns of tenants)."""
    found = inspect(connection)
    tenants = {column["name"] for column in found.get_columns("tenants")}
    tables = set(found.get_table_names())
    return "usage_records" in tables, "usage_daily" in found.get_view_names(), tenants


async def test_usage_migration_goes_down_and_up_again(database_url: str) -> None:
    store = await Store.open(database_url, pepper=PEPPER)
    try:
        await store.insert_usage([record()])
    finally:
        await store.aclose()
    database = Database(database_url)
    try:
        async with database.engine.begin() as connection:
            usage, daily, tenants = await connection.run_sync(_schema)
            assert (usage, daily) == (True, True)
            assert "timezone" in tenants
            await connection.run_sync(_downgrade, "0001_initial")
        async with database.engine.connect() as connection:
            usage, daily, tenants = await connection.run_sync(_schema)
            assert (usage, daily) == (False, False)
            assert "timezone" not in tenants
        await database.migrate()
        async with database.engine.connect() as connection:
            assert await connection.run_sync(_schema) == (True, True, tenants | {"timezone"})
            zone = await connection.scalar(text("SELECT timezone FROM tenants"))
            assert zone == "UTC"
            assert await connection.scalar(text("SELECT count(*) FROM usage_daily")) == 0
    finally:
        await database.aclose()
