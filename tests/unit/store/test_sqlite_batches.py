"""The drains' SQLite `BatchWriter`: a batch is one transaction on its own connection."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from giru.errors import StoreUnavailableError
from giru.store.sqlite import BatchWriter

_INSERT = "INSERT INTO t (id, v) VALUES (?1, ?2) ON CONFLICT DO NOTHING"
_STRICT = "INSERT INTO t (id, v) VALUES (?1, ?2)"


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "batches.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    return path


def _rows(path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT id, v FROM t ORDER BY id").fetchall()


async def test_a_batch_is_committed_and_counts_the_rows_it_changed(database: Path) -> None:
    writer = BatchWriter(str(database), ("PRAGMA busy_timeout=1000",))
    try:
        assert await writer.insert(_INSERT, [(1, "a"), (2, "b")]) == 2
        assert await writer.insert(_INSERT, [(2, "again"), (3, "c")]) == 1  # 2 is stored
    finally:
        await writer.aclose()
    assert _rows(database) == [(1, "a"), (2, "b"), (3, "c")]


async def test_a_row_that_breaks_a_constraint_leaves_the_whole_batch_out(database: Path) -> None:
    writer = BatchWriter(str(database), ())
    try:
        await writer.insert(_STRICT, [(1, "a")])
        with pytest.raises(sqlite3.IntegrityError):
            await writer.insert(_STRICT, [(2, "b"), (1, "taken"), (3, "c")])
        assert await writer.insert(_STRICT, [(4, "d")]) == 1  # the connection is usable after
    finally:
        await writer.aclose()
    assert _rows(database) == [(1, "a"), (4, "d")]


async def test_a_database_locked_past_the_busy_timeout_is_unavailable(database: Path) -> None:
    writer = BatchWriter(str(database), ("PRAGMA busy_timeout=50",))
    holder = sqlite3.connect(database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
        with pytest.raises(StoreUnavailableError, match="database is locked"):
            await writer.insert(_INSERT, [(1, "a")])
        holder.execute("COMMIT")
        assert await writer.insert(_INSERT, [(1, "a")]) == 1
    finally:
        holder.close()
        await writer.aclose()
        await writer.aclose()  # closing again is harmless
    assert _rows(database) == [(1, "a")]


async def test_a_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    writer = BatchWriter(str(tmp_path / "missing" / "giru.db"), ())
    try:
        with pytest.raises(StoreUnavailableError, match="unable to open"):
            await writer.insert(_INSERT, [(1, "a")])
    finally:
        await writer.aclose()
