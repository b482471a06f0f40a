"""The drains' batch inserts on SQLite (usage, audit) below the ORM: values as SQLAlchemy's
SQLite column types store them (what the inserts write must read back like ORM rows), and the
writer that runs each batch in one hand-off to a thread of its own."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import orjson

from giru.errors import StoreUnavailableError

__all__ = ["BatchWriter", "datetime_text", "json_text"]


def datetime_text(value: datetime) -> str:
    """A UTC time as SQLAlchemy's SQLite `DATETIME` stores it (and reads it back)."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
    text = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    return text if value.microsecond else text + ".000000"


def json_text(value: Any) -> str:
    """`value` as the text of a `JSON` column: orjson's (the same JSON value as the type's
    `json.dumps`, a sixth of its CPU), or `json.dumps`'s for what orjson refuses."""
    try:
        return orjson.dumps(value, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()
    except TypeError:
        return json.dumps(value)


class BatchWriter:
    """One `sqlite3` connection, used only by a thread of its own, for the drains' inserts.

    A batch is one hand-off to that thread (`BEGIN IMMEDIATE`, `executemany`, `COMMIT`), where
    the same transaction through the async engine took ten (aiosqlite runs every DBAPI call,
    the pool's checkout and reset included, as a round trip to its thread): 300-450 µs of CPU
    less per batch (bench/results/profile/2026-12-08-drain-batches.md). The thread starts with
    the first batch.

    Args:
        path: The database file (the engine's, already migrated).
        pragmas: Run on the connection when it opens (the engine's: WAL, busy timeout, ...).
    """

    def __init__(self, path: str, pragmas: Sequence[str]) -> None:
        self._path = path
        self._pragmas = tuple(pragmas)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="giru-sqlite-batch")
        self._connection: sqlite3.Connection | None = None  # opened on the thread, at first use
        self._used = False
        self._closed = False

    async def insert(self, statement: str, rows: Sequence[tuple[Any, ...]]) -> int:
        """Run `statement` once per row in one transaction; the rows it changed.

        Raises:
            sqlite3.IntegrityError: a row broke a constraint (nothing was inserted).
            StoreUnavailableError: the database could not be opened or written (locked past
                the busy timeout, a disk error); nothing was inserted.
        """
        loop = asyncio.get_running_loop()
        self._used = True
        try:
            return await loop.run_in_executor(self._thread, self._insert, statement, rows)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"the database is unavailable: {exc}"[:300]) from exc

    async def aclose(self) -> None:
        """Close the connection and end the thread (again: nothing)."""
        if self._closed:
            return
        self._closed = True
        if self._used:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)

    def _insert(self, statement: str, rows: Sequence[tuple[Any, ...]]) -> int:
        connection = self._connection or self._open()
        connection.execute("BEGIN IMMEDIATE")
        try:
            changed = connection.executemany(statement, rows).rowcount
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return changed

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
        try:
            for pragma in self._pragmas:
                connection.execute(pragma)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
