"""The writer drains the spool into the real store: in order, once, across outages and crashes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from giru.errors import StoreUnavailableError
from giru.metering import Spool, UsageRecord, UsageWriter
from giru.store import Store
from tests.integration.store.data import PEPPER
from tests.services import PostgresServer
from tests.unit.metering.data import record

pytestmark = pytest.mark.integration

WAIT = 60.0


class Watched:
    """The store as a sink, remembering the order of inserted ids and signalling failures."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.inserted: list[str] = []
        self.unavailable = asyncio.Event()

    async def insert_usage(self, records: Sequence[UsageRecord]) -> int:
        try:
            count = await self.store.insert_usage(records)
        except StoreUnavailableError:
            self.unavailable.set()
            raise
        self.inserted += [r["event_id"] for r in records]
        return count


async def stored_ids(store: Store) -> list[str]:
    async with store.database.read() as session:
        return list((await session.scalars(text("SELECT event_id FROM usage_records"))).all())


async def test_the_writer_stores_records_in_the_order_they_were_made(
    store: Store, tmp_path: Path
) -> None:
    sink = Watched(store)
    writer = UsageWriter(sink, await Spool.open(tmp_path, group_commit_ms=0), batch_size=7)
    try:
        made = [record() for _ in range(50)]
        for item in made:
            await writer.submit(item)
        assert await writer.flush(WAIT)
    finally:
        await writer.aclose()
    assert sink.inserted == [r["event_id"] for r in made]
    assert sorted(await stored_ids(store)) == sorted(sink.inserted)


async def test_records_made_while_postgresql_is_down_are_stored_once_it_is_back(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    store = await Store.open(postgres_url, pepper=PEPPER)
    registry = CollectorRegistry()
    sink = Watched(store)
    spool = await Spool.open(tmp_path, group_commit_ms=1)
    writer = UsageWriter(sink, spool, registry=registry, batch_size=100, backoff_s=(0.05, 0.5))
    try:
        await writer.submit(record())  # the drain works before the outage
        assert await writer.flush(WAIT)
        await asyncio.to_thread(postgres_server.stop)
        try:
            made = [record() for _ in range(1000)]
            await asyncio.gather(*(writer.submit(item) for item in made))
            async with asyncio.timeout(WAIT):
                await sink.unavailable.wait()
            assert (registry.get_sample_value("giru_usage_drain_failures_total") or 0) >= 1
        finally:
            await asyncio.to_thread(postgres_server.start)
        assert await writer.flush(WAIT)
        ids = await stored_ids(store)
        assert len(ids) == 1001
        assert {r["event_id"] for r in made} <= set(ids)
        assert registry.get_sample_value("giru_usage_drained_total") == 1001
    finally:
        await writer.aclose()
        await store.aclose()


async def test_a_crash_between_insert_and_delete_stores_each_record_once(
    store: Store, tmp_path: Path
) -> None:
    spool = await Spool.open(tmp_path / "0", group_commit_ms=0)
    made = [record() for _ in range(20)]
    for item in made:
        await spool.submit(item)
    await spool.seal()
    batch = await spool.next_batch()
    assert batch is not None
    assert await store.insert_usage(batch.records) == 20
    await spool.aclose()  # the "crash": the segment was stored but never deleted
    writer = await UsageWriter.open(
        store, tmp_path, max_bytes=1 << 20, group_commit_ms=0, batch_size=8
    )
    try:
        assert writer.spool.directory == tmp_path / "0"
        later = record()
        await writer.submit(later)
        assert await writer.flush(WAIT)
        assert writer.spool.sealed == []
    finally:
        await writer.aclose()
    ids = await stored_ids(store)
    assert sorted(ids) == sorted([r["event_id"] for r in made] + [later["event_id"]])
