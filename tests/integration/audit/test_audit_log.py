"""AuditLog into the real store, and `giru audit verify` (the real CLI, as a subprocess) on the
result: intact chains pass; an edited row and a deleted row are named; records made while
PostgreSQL is down arrive later in order; a restart continues the chain."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from giru.audit import AuditLog, AuditMetrics, AuditRecord
from giru.errors import StoreUnavailableError
from giru.store import Store
from tests.integration.gateway import GIRU
from tests.integration.store.data import PEPPER
from tests.services import PostgresServer
from tests.unit.audit.data import record
from tests.unit.metering.data import record as usage_record

pytestmark = pytest.mark.integration

WAIT = 60.0
T = TypeVar("T")


async def giru_verify(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [str(GIRU), "audit", "verify", "--database-url", database_url, *args]
    return await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=120, check=False
    )


async def write(store: Store, spool: Path, records: Sequence[AuditRecord]) -> None:
    log = await AuditLog.open(store, spool, batch_size=50)
    try:
        for item in records:
            await log.record(item)
        assert await log.flush(WAIT)
    finally:
        await log.aclose()


async def tamper(store: Store, statement: str, **params: Any) -> None:
    """Run `statement` past the append-only guard, as the database owner could."""
    async with store.database.read() as session:
        if store.database.dialect == "postgresql":
            await session.execute(text("SET session_replication_role = replica"))
        else:
            await session.execute(text("DROP TRIGGER audit_records_no_update"))
            await session.execute(text("DROP TRIGGER audit_records_no_delete"))
        await session.execute(text(statement), params)
        await session.commit()


async def stored(store: Store) -> list[tuple[str, int, str]]:
    return [(e.node, e.seq, e.event_id) async for e in store.audit_chain()]


async def test_an_intact_log_verifies(store: Store, database_url: str, tmp_path: Path) -> None:
    made = [record(node="gw-a" if i % 2 else "gw-b") for i in range(120)]
    await write(store, tmp_path / "spool", made)
    result = await giru_verify(database_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "120 records, 2 nodes checked" in result.stdout
    as_json = await giru_verify(database_url, "-o", "json")
    body = json.loads(as_json.stdout)
    assert (body["ok"], body["records"], body["nodes"], body["problems"]) == (True, 120, 2, [])
    assert [head["seq"] for head in body["heads"]] == [60, 60]


async def test_an_edited_row_is_named(store: Store, database_url: str, tmp_path: Path) -> None:
    made = [record(outcome="policy_denied") for _ in range(30)]
    await write(store, tmp_path / "spool", made)
    victim = made[16]["event_id"]
    await tamper(
        store, "UPDATE audit_records SET outcome = 'allowed' WHERE event_id = :id", id=victim
    )
    result = await giru_verify(database_url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"node node-1 seq 17 event {victim}: hash mismatch (record altered)" in result.stdout


async def test_a_deleted_row_is_named_as_a_gap(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    made = [record() for _ in range(30)]
    await write(store, tmp_path / "spool", made)
    await tamper(store, "DELETE FROM audit_records WHERE seq = 9")
    result = await giru_verify(database_url, "--node", "node-1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        f"node node-1 seq 10 event {made[9]['event_id']}: gap: seq 9 missing between seq 8 "
        f"(event {made[7]['event_id']}) and seq 10 (event {made[9]['event_id']})"
    ) in result.stdout


async def test_a_restart_continues_the_chain(store: Store, tmp_path: Path) -> None:
    runs = [[record(details={"run": run}) for _ in range(10)] for run in range(3)]
    for made in runs:
        await write(store, tmp_path / "spool", made)
    assert await stored(store) == [
        ("node-1", seq, item["event_id"])
        for seq, item in enumerate((item for made in runs for item in made), start=1)
    ]
    result = await giru_verify(str(store.database.url))
    assert result.returncode == 0, result.stdout + result.stderr


class Watched:
    """The store, signalling when the database could not be reached."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.unavailable = asyncio.Event()

    async def audit_head(self, node: str) -> tuple[int, str] | None:
        return await self._watch(self.store.audit_head(node))

    async def audit_known(self, event_ids: Sequence[str]) -> set[str]:
        return await self._watch(self.store.audit_known(event_ids))

    async def insert_audit(self, records: Sequence[Any]) -> int:
        return await self._watch(self.store.insert_audit(records))

    async def insert_usage(self, records: Sequence[Any]) -> int:
        return await self._watch(self.store.insert_usage(records))

    async def _watch(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except StoreUnavailableError:
            self.unavailable.set()
            raise


async def test_records_made_while_postgresql_is_down_arrive_in_order_once_it_is_back(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    store = await Store.open(postgres_url, pepper=PEPPER)
    registry = CollectorRegistry()
    watched = Watched(store)
    log = await AuditLog.open(
        watched, tmp_path, metrics=AuditMetrics(registry), batch_size=100, backoff_s=(0.05, 0.5)
    )
    try:
        before = record()
        await log.record(before)  # the drain works before the outage
        assert await log.flush(WAIT)
        await asyncio.to_thread(postgres_server.stop)
        try:
            made = [record(node="gw-a" if i % 3 else "gw-b") for i in range(600)]
            usage = [usage_record(event_id=r["event_id"]) for r in made[::2]]  # tools/calls
            for index, item in enumerate(made):  # durable although PostgreSQL is down
                if index % 2:
                    await log.record(item)
                else:  # with its usage record, in one frame
                    await log.submit(item, usage[index // 2])
            async with asyncio.timeout(WAIT):
                await watched.unavailable.wait()
            assert not await log.flush(0.5)
            assert (registry.get_sample_value("giru_audit_spool_bytes") or 0) > 0
        finally:
            await asyncio.to_thread(postgres_server.start)
        assert await log.flush(WAIT)
        assert (registry.get_sample_value("giru_audit_store_failures_total") or 0) >= 1
        assert registry.get_sample_value("giru_audit_drained_total") == 601
    finally:
        await log.aclose()
    chain = await stored(store)
    assert await store.insert_usage([*usage, usage_record()]) == 1  # all but the new one stored
    await store.aclose()
    for node in ("gw-a", "gw-b"):
        ids = [event_id for n, _, event_id in chain if n == node]
        assert ids == [r["event_id"] for r in made if r["node"] == node]  # in order, once
    result = await giru_verify(postgres_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "601 records, 3 nodes checked" in result.stdout
