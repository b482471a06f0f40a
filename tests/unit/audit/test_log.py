"""AuditLog over an in-memory store: chained in order, durable while the store is down, never a
fork of the chain (re-drained segments, lost acknowledgements), back-pressure when full."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from giru.audit import (
    AUDIT_CODEC,
    AuditLog,
    AuditMetrics,
    AuditRecord,
    AuditSpoolError,
    AuditSpoolFullError,
    Entry,
    Head,
    Verifier,
    link,
    verify_reported,
)
from giru.errors import ConflictError, StoreUnavailableError
from giru.metering import UsageMetrics
from giru.metering.spool import Spool
from tests.unit.audit.data import record
from tests.unit.metering.data import record as usage_record

WAIT = 5.0


class MemoryStore:
    """The store's audit methods over a list: unique event ids and (node, seq), like the table.
    `down` fails every call; `lose_acks` makes the next inserts fail after they stored."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.usage: dict[str, dict[str, Any]] = {}  # usage records by event id
        self.down = False
        self.lose_acks = 0
        self.failed = asyncio.Event()

    def _check(self) -> None:
        if self.down:
            self.failed.set()
            raise StoreUnavailableError("the database is unavailable: connection refused")

    async def audit_head(self, node: str) -> tuple[int, str] | None:
        self._check()
        mine = [r for r in self.rows if r["node"] == node]
        return (mine[-1]["seq"], mine[-1]["hash"]) if mine else None

    async def audit_known(self, event_ids: Sequence[str]) -> set[str]:
        self._check()
        return {r["event_id"] for r in self.rows} & set(event_ids)

    async def insert_audit(self, records: Sequence[Any]) -> int:
        self._check()
        taken = {r["event_id"] for r in self.rows} | {(r["node"], r["seq"]) for r in self.rows}
        if any(r["event_id"] in taken or (r["node"], r["seq"]) in taken for r in records):
            raise ConflictError("taken", code="audit_conflict")
        self.rows += [dict(r) for r in records]
        if self.lose_acks:
            self.lose_acks -= 1
            raise StoreUnavailableError("connection lost before the commit was acknowledged")
        return len(records)

    async def insert_usage(self, records: Sequence[Any]) -> int:
        self._check()
        new = [r for r in records if r["event_id"] not in self.usage]
        self.usage.update((r["event_id"], dict(r)) for r in new)
        return len(new)

    def verified(self) -> Any:
        verifier = Verifier()
        verifier.feed_all(sorted(self.rows, key=lambda r: (r["node"], r["seq"])))
        return verifier.result()


async def fill(log: AuditLog, *, check: bool) -> AuditSpoolFullError:
    """Record until the spool refuses (with `check_capacity` before each record if `check`)."""
    for _ in range(1000):
        try:
            if check:
                log.check_capacity()
            await log.record(record())
        except AuditSpoolFullError as exc:
            return exc
    raise AssertionError("the spool never filled")


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def log(
    tmp_path: Path, store: MemoryStore, registry: CollectorRegistry
) -> AsyncIterator[AuditLog]:
    opened = await AuditLog.open(
        store,
        tmp_path,
        metrics=AuditMetrics(registry),
        batch_size=7,
        backoff_s=(0.01, 0.05),
    )
    try:
        yield opened
    finally:
        await opened.aclose(timeout=0.5)


async def test_records_are_stored_in_order_in_one_unbroken_chain(
    log: AuditLog, store: MemoryStore, registry: CollectorRegistry
) -> None:
    made = [record(outcome="allowed" if i % 3 else "policy_denied") for i in range(50)]
    for item in made:
        await log.record(item)
    assert await log.flush(WAIT)
    assert [r["event_id"] for r in store.rows] == [r["event_id"] for r in made]
    assert [r["seq"] for r in store.rows] == list(range(1, 51))
    result = store.verified()
    assert result.ok
    assert result.records == 50
    assert registry.get_sample_value("giru_audit_drained_total") == 50
    assert registry.get_sample_value("giru_audit_records_total", {"outcome": "allowed"}) == 33
    assert registry.get_sample_value("giru_audit_spool_bytes") == 0


async def test_a_calls_usage_record_rides_in_its_audit_frame_and_is_stored_once(
    tmp_path: Path, store: MemoryStore, registry: CollectorRegistry
) -> None:
    log = await AuditLog.open(
        store, tmp_path, usage_metrics=UsageMetrics(registry), backoff_s=(0.01, 0.05)
    )
    try:
        audits = [record() for _ in range(12)]
        calls = [
            (made, usage_record(event_id=made["event_id"], outcome="tool_error" if i % 4 else "ok"))
            for i, made in enumerate(audits)
        ]
        store.lose_acks = 1  # the first batch is inserted again: its usage records skipped
        for audited, usage in calls:
            await log.submit(audited, usage)
        await log.record(record(action="initialize"))  # a record without usage
        assert await log.flush(WAIT)
    finally:
        await log.aclose()
    assert list(store.usage) == [audited["event_id"] for audited, _ in calls]
    assert [r["seq"] for r in store.rows] == list(range(1, 14))
    assert store.verified().ok
    counted = registry.get_sample_value
    assert counted("giru_usage_records_total", {"outcome": "ok"}) == 3
    assert counted("giru_usage_records_total", {"outcome": "tool_error"}) == 9
    assert counted("giru_usage_drained_total") == 12


async def test_records_wait_in_the_spool_while_the_store_is_down(
    log: AuditLog, store: MemoryStore, registry: CollectorRegistry
) -> None:
    await log.record(record())
    assert await log.flush(WAIT)
    store.down = True
    made = [record() for _ in range(20)]
    for item in made:
        await log.record(item)  # durable although the store is down
    assert not await log.flush(0.2)
    assert store.failed.is_set()
    assert (registry.get_sample_value("giru_audit_spool_bytes") or 0) > 0
    assert (registry.get_sample_value("giru_audit_store_failures_total") or 0) >= 1
    store.down = False
    assert await log.flush(WAIT)
    assert [r["seq"] for r in store.rows] == list(range(1, 22))
    assert store.verified().ok


async def test_the_drain_lag_is_the_age_of_the_oldest_record_not_stored(
    log: AuditLog, store: MemoryStore, registry: CollectorRegistry
) -> None:
    assert registry.get_sample_value("giru_audit_drain_lag_seconds") == 0
    store.down = True
    await log.record(record(at=datetime.now(UTC) - timedelta(minutes=10)))
    assert not await log.flush(0.2)
    assert store.failed.is_set()  # the drain read the segment and tried to store it
    assert (registry.get_sample_value("giru_audit_drain_lag_seconds") or 0) >= 600
    store.down = False
    assert await log.flush(WAIT)
    assert registry.get_sample_value("giru_audit_drain_lag_seconds") == 0


async def test_a_lost_acknowledgement_does_not_fork_the_chain(
    log: AuditLog, store: MemoryStore
) -> None:
    store.lose_acks = 1
    for _ in range(10):
        await log.record(record())
    assert await log.flush(WAIT)
    for _ in range(5):
        await log.record(record())
    assert await log.flush(WAIT)
    assert [r["seq"] for r in store.rows] == list(range(1, 16))
    assert store.verified().ok


async def test_a_segment_stored_before_a_crash_is_not_stored_again(
    tmp_path: Path, store: MemoryStore
) -> None:
    first = await AuditLog.open(store, tmp_path, batch_size=4)
    made = [record() for _ in range(10)]
    for item in made:
        await first.record(item)
    assert await first.flush(WAIT)
    await first.aclose()
    # The "crash": the same records are back in a segment as if it had never been acked.
    spool = await Spool.open(tmp_path / "0", group_commit_ms=0, codec=AUDIT_CODEC)
    for item in made:
        await spool.submit(Entry(item))
    await spool.aclose()
    again = await AuditLog.open(store, tmp_path, batch_size=4)
    try:
        later = record()
        await again.record(later)
        assert await again.flush(WAIT)
        assert again.spool.sealed == []
    finally:
        await again.aclose()
    assert [r["seq"] for r in store.rows] == list(range(1, 12))
    assert store.rows[-1]["event_id"] == later["event_id"]
    assert store.verified().ok


async def test_a_record_appended_again_later_is_stored_once(
    log: AuditLog, store: MemoryStore, registry: CollectorRegistry
) -> None:
    made = [record() for _ in range(5)]
    for item in made:
        await log.record(item)
    assert await log.flush(WAIT)
    later = [made[2], record(), made[4], record()]  # two of them a second time, in a new segment
    for item in later:
        await log.record(item)
    assert await log.flush(WAIT)
    assert [r["event_id"] for r in store.rows] == [
        r["event_id"] for r in [*made, later[1], later[3]]
    ]
    assert [r["seq"] for r in store.rows] == list(range(1, 8))
    assert store.verified().ok
    assert registry.get_sample_value("giru_audit_store_failures_total") == 0


async def test_another_writer_of_the_node_delays_the_chain_but_never_forks_it(
    log: AuditLog, store: MemoryStore, registry: CollectorRegistry
) -> None:
    await log.record(record())
    assert await log.flush(WAIT)
    [theirs], _ = link([record()], {"node-1": Head(1, store.rows[0]["hash"])})
    store.rows.append(dict(theirs))  # seq 2, behind the log's back
    mine = record()
    await log.record(mine)
    assert await log.flush(WAIT)
    assert [(r["seq"], r["event_id"]) for r in store.rows] == [
        (1, store.rows[0]["event_id"]),
        (2, theirs["event_id"]),
        (3, mine["event_id"]),
    ]
    assert store.verified().ok
    assert (registry.get_sample_value("giru_audit_store_failures_total") or 0) >= 1


async def test_a_restart_continues_each_nodes_chain(tmp_path: Path, store: MemoryStore) -> None:
    for run in range(3):
        log = await AuditLog.open(store, tmp_path)
        try:
            for node in ("a", "b"):
                await log.record(record(node=node, details={"run": run}))
        finally:
            await log.aclose()
    assert [(r["node"], r["seq"]) for r in store.rows if r["node"] == "a"] == [
        ("a", 1),
        ("a", 2),
        ("a", 3),
    ]
    result = store.verified()
    assert result.ok
    assert result.nodes == 2


async def test_a_full_spool_refuses_records_and_says_so_beforehand(
    tmp_path: Path, store: MemoryStore, registry: CollectorRegistry
) -> None:
    store.down = True
    log = await AuditLog.open(store, tmp_path, metrics=AuditMetrics(registry), max_bytes=16 * 1024)
    try:
        refused = await fill(log, check=True)
        assert refused.code == "audit_spool_full"
        with pytest.raises(AuditSpoolFullError):
            log.check_capacity()
        taken = int(
            registry.get_sample_value("giru_audit_records_total", {"outcome": "allowed"}) or 0
        )
        assert 0 < taken < 1000
        store.down = False
        assert await log.flush(WAIT)
        log.check_capacity()  # room again
        assert len(store.rows) == taken
    finally:
        await log.aclose()


async def test_record_past_the_cap_is_refused_and_counted(
    tmp_path: Path, store: MemoryStore, registry: CollectorRegistry
) -> None:
    store.down = True
    log = await AuditLog.open(store, tmp_path, metrics=AuditMetrics(registry), max_bytes=4096)
    try:
        await fill(log, check=False)
        assert registry.get_sample_value("giru_audit_refused_total") == 1
    finally:
        store.down = False
        await log.aclose()


async def test_a_malformed_record_is_refused_at_once(log: AuditLog) -> None:
    with pytest.raises(AuditSpoolError, match="'actor' must be a string"):
        await log.record(record(actor=None))


async def test_a_closed_log_refuses_records(tmp_path: Path, store: MemoryStore) -> None:
    log = await AuditLog.open(store, tmp_path)
    await log.aclose()
    with pytest.raises(AuditSpoolError, match="audit spool is closed") as refused:
        log.check_capacity()
    assert refused.value.code == "audit_spool_unavailable"


async def test_two_logs_take_two_spool_slots(tmp_path: Path, store: MemoryStore) -> None:
    one = await AuditLog.open(store, tmp_path, slots=2)
    two = await AuditLog.open(store, tmp_path, slots=2)
    try:
        assert {one.spool.directory.name, two.spool.directory.name} == {"0", "1"}
        with pytest.raises(AuditSpoolError, match="all 2 audit spool slots are held"):
            await AuditLog.open(store, tmp_path, slots=2)
    finally:
        await one.aclose()
        await two.aclose()


def test_records_are_typed_dicts() -> None:
    item: AuditRecord = record()
    assert set(item) >= {"event_id", "node", "outcome"}


class _Entry:
    def __init__(self, row: dict[str, Any]) -> None:
        self._row = row

    def fields(self) -> dict[str, Any]:
        return self._row


async def test_a_verification_that_finds_a_changed_record_sets_the_chain_metric_to_0(
    log: AuditLog, store: MemoryStore, registry: CollectorRegistry
) -> None:
    for _ in range(3):
        await log.record(record())
    assert await log.flush(WAIT)

    async def chains() -> AsyncIterator[Any]:
        for row in sorted(store.rows, key=lambda r: (r["node"], r["seq"])):
            yield _Entry(row)

    assert (await verify_reported(chains, log.metrics) or _failed()).ok
    assert registry.get_sample_value("giru_audit_chain_ok") == 1
    store.rows[1]["actor"] = "mallory"
    assert not (await verify_reported(chains, log.metrics) or _failed()).ok
    assert registry.get_sample_value("giru_audit_chain_ok") == 0
    assert registry.get_sample_value("giru_audit_chain_verifications_total", {"result": "ok"}) == 1
    broken = {"result": "broken"}
    assert registry.get_sample_value("giru_audit_chain_verifications_total", broken) == 1
    assert (
        registry.get_sample_value("giru_audit_chain_last_verification_timestamp_seconds") or 0
    ) > 0


def _failed() -> Any:
    raise AssertionError("the verification did not run")
