"""`giru migrate`: the schema upgrade a deployment runs before its rollout (the Helm hook Job)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from giru.cli.main import app

pytestmark = pytest.mark.integration


def _migrate(database: Path) -> tuple[int, str]:
    runner = CliRunner(env={"GIRU_DATABASE_URL": f"sqlite+aiosqlite:///{database}"})
    result = runner.invoke(app, ["migrate"])
    return result.exit_code, result.output


def _version(database: Path) -> str:
    with sqlite3.connect(database) as connection:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0])


def test_migrate_brings_an_empty_database_to_the_newest_schema(tmp_path: Path) -> None:
    database = tmp_path / "giru.db"
    code, output = _migrate(database)
    assert code == 0, output
    assert "schema up to date" in output
    assert _version(database).startswith("00")
    assert _migrate(database)[0] == 0  # again: nothing to do


def test_migrate_refuses_a_schema_from_a_newer_giru(tmp_path: Path) -> None:
    database = tmp_path / "giru.db"
    assert _migrate(database)[0] == 0
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0999_later'")
    code, output = _migrate(database)
    assert code != 0
    assert "0999_later, newer than this Giru knows" in output
    assert _version(database) == "0999_later"
