"""UsageWriter over an in-memory sink: in-order drain, retries while the store is down, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from giru.errors import StoreUnavailableError
from giru.metering import Spool, SpoolFullError, UsageRecord, UsageWriter
from tests.unit.metering.data import record

WAIT = 5.0


class MemorySink:
    """Stores records by event id (idempotent, like the store); `down` makes inserts fail with
    `StoreUnavailableError`, `lose_acks` makes the next inserts fail after they stored."""

    def __init__(self) -> None:
        self.rows: dict[str, UsageRecord] = {}
        self.calls: list[list[str]] = []
        self.down = False
        self.lose_acks = 0
        self.bug: Exception | None = None
        self.failed = asyncio.Event()

    async def insert_usage(self, records: Sequence[UsageRecord]) -> int:
        self.calls.append([r["event_id"] for r in records])
        if self.bug is not None:
            self.failed.set()
            raise self.bug
        if self.down:
            self.failed.set()
            raise StoreUnavailableError("the database is unavailable: connection refused")
        new = {r["event_id"]: r for r in records if r["event_id"] not in self.rows}
        self.rows.update(new)
        if self.lose_acks:
            self.lose_acks -= 1
            raise StoreUnavailableError("connection lost before the commit was acknowledged")
        return len(new)


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def writer(
    tmp_path: Path, sink: MemorySink, registry: CollectorRegistry
) -> AsyncIterator[UsageWriter]:
    spool = await Spool.open(tmp_path, group_commit_ms=0)
    made = UsageWriter(sink, spool, registry=registry, batch_size=3, backoff_s=(0.01, 0.05))
    try:
        yield made
    finally:
        await made.aclose(timeout=WAIT)


def metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_records_are_stored_in_the_order_they_were_made(
    writer: UsageWriter, sink: MemorySink
) -> None:
    made = [record() for _ in range(10)]
    for item in made:
        await writer.submit(item)
    assert await writer.flush(WAIT)
    assert [event for call in sink.calls for event in call] == [r["event_id"] for r in made]
    assert all(len(call) <= 3 for call in sink.calls)  # batch_size
    assert list(sink.rows.values()) == made
    assert writer.spool.size == 0


async def test_records_wait_in_the_spool_while_the_store_is_down(
    writer: UsageWriter, sink: MemorySink, registry: CollectorRegistry
) -> None:
    sink.down = True
    made = [record() for _ in range(7)]
    with capture_logs() as logs:
        for item in made:
            await writer.submit(item)
        async with asyncio.timeout(WAIT):
            await sink.failed.wait()
        assert not await writer.flush(0.1)
        assert sink.rows == {}
        assert writer.spool.size > 0
        sink.down = False
        assert await writer.flush(WAIT)
    assert list(sink.rows.values()) == made
    events = [log["event"] for log in logs]
    assert events.count("usage drain waiting for the store") == 1  # once per outage
    assert events.count("usage drain resumed") == 1
    assert metric(registry, "giru_usage_drain_failures_total") >= 1


async def test_a_batch_stored_but_not_acknowledged_is_stored_once(
    writer: UsageWriter, sink: MemorySink
) -> None:
    sink.lose_acks = 2
    made = [record() for _ in range(5)]
    for item in made:
        await writer.submit(item)
    assert await writer.flush(WAIT)
    assert list(sink.rows.values()) == made
    assert sink.calls[0] == sink.calls[1] == sink.calls[2]  # the same batch, tried again


async def test_an_unexpected_insert_error_is_logged_and_retried(
    writer: UsageWriter, sink: MemorySink
) -> None:
    sink.bug = RuntimeError("a bug")
    with capture_logs() as logs:
        await writer.submit(record())
        async with asyncio.timeout(WAIT):
            await sink.failed.wait()
        sink.bug = None
        assert await writer.flush(WAIT)
    assert [log["log_level"] for log in logs if log["event"] == "usage drain failed; retrying"] == [
        "error"
    ]
    assert len(sink.rows) == 1


async def test_metrics_count_records_by_outcome_and_drained_ones(
    writer: UsageWriter, registry: CollectorRegistry
) -> None:
    await writer.submit(record())
    await writer.submit(record(outcome="rate_limited", status=-31429))
    await writer.submit(record(outcome="rate_limited", status=-31429))
    assert metric(registry, "giru_usage_spool_bytes") > 0
    assert await writer.flush(WAIT)
    assert metric(registry, "giru_usage_records_total", outcome="ok") == 1
    assert metric(registry, "giru_usage_records_total", outcome="rate_limited") == 2
    assert metric(registry, "giru_usage_drained_total") == 3
    assert metric(registry, "giru_usage_spool_bytes") == 0


async def test_flushing_an_empty_writer_returns_at_once(writer: UsageWriter) -> None:
    assert await writer.flush(WAIT)


async def test_closing_while_the_store_is_down_keeps_the_records_for_the_next_start(
    tmp_path: Path, sink: MemorySink
) -> None:
    sink.down = True
    first = await UsageWriter.open(
        sink, tmp_path, max_bytes=1 << 20, group_commit_ms=0, batch_size=10
    )
    made = [record() for _ in range(4)]
    for item in made:
        await first.submit(item)
    with capture_logs() as logs:
        await first.aclose(timeout=0.1)
    assert "usage records left in the spool" in [log["event"] for log in logs]
    sink.down = False
    second = await UsageWriter.open(
        sink, tmp_path, max_bytes=1 << 20, group_commit_ms=0, batch_size=10
    )
    try:
        assert second.spool.directory == tmp_path / "0"
        assert await second.flush(WAIT)
        assert list(sink.rows.values()) == made
    finally:
        await second.aclose()


async def test_capacity_is_refused_near_the_cap(tmp_path: Path, sink: MemorySink) -> None:
    sink.down = True
    spool = await Spool.open(tmp_path, max_bytes=1 << 20, group_commit_ms=0)
    writer = UsageWriter(sink, spool)
    try:
        writer.check_capacity()
        headroom = (1 << 20) // 16
        while spool.size + headroom <= spool.max_bytes:
            await writer.submit(record(request_id="x" * 4000))
        with pytest.raises(SpoolFullError):
            writer.check_capacity()
        await writer.submit(record())  # the headroom is for records of calls in flight
    finally:
        await writer.aclose(timeout=0.1)
