"""Store usage queries on both backends: idempotent inserts, summaries, quota counts, the view."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from giru.errors import ValidationError
from giru.metering import UsageRecord
from giru.store import Store
from giru.store.models import TenantRow, UsageRow
from giru.store.usage import UsageSummary
from tests.unit.metering.data import AT, record

pytestmark = pytest.mark.integration


async def set_timezone(store: Store, name: str) -> None:
    async with store.database.read() as session:
        await session.execute(update(TenantRow).values(timezone=name))
        await session.commit()


async def count(store: Store) -> int:
    async with store.database.read() as session:
        return int(await session.scalar(text("SELECT count(*) FROM usage_records")) or 0)


async def test_inserting_records_again_inserts_only_the_new_ones(store: Store) -> None:
    made = [record() for _ in range(3)]
    assert await store.insert_usage(made) == 3
    assert await store.insert_usage([*made, record()]) == 1
    assert await store.insert_usage([]) == 0
    assert await count(store) == 4


async def test_every_field_is_stored(store: Store) -> None:
    item = record(cost=0.125, status=-31429, outcome="rate_limited", subscription=None)
    await store.insert_usage([item])
    async with store.database.read() as session:
        row = (await session.execute(text("SELECT * FROM usage_records"))).mappings().one()
    stored = {key: row[key] for key in item if key != "at"}
    assert stored == {key: value for key, value in item.items() if key != "at"}


async def test_times_and_ids_read_back_through_the_orm(store: Store) -> None:
    """The batch insert writes below the ORM: what it wrote must read back like ORM rows."""
    at = datetime(2026, 3, 1, 23, 59, 59, 120, tzinfo=UTC)
    whole = datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC)  # no microseconds: still one format
    await store.insert_usage([record(at=at), record(at=whole)])
    async with store.database.read() as session:
        rows = (await session.execute(select(UsageRow).order_by(UsageRow.at))).scalars().all()
        in_march = await session.scalar(
            select(func.count()).where(UsageRow.at >= whole - timedelta(microseconds=1))
        )
    assert [row.at for row in rows] == [at, whole]
    assert all(row.created_at.tzinfo is UTC and row.created_at == row.updated_at for row in rows)
    assert all(row.id == row.event_id and uuid.UUID(row.id).version == 7 for row in rows)
    assert in_march == 1


def calls(client: str, tool: str, durations: list[float], **fields: Any) -> list[UsageRecord]:
    return [record(client=client, tool=tool, duration_ms=d, **fields) for d in durations]


async def test_summaries_group_count_and_take_percentiles(store: Store) -> None:
    await store.insert_usage(
        [
            *calls("alice", "echo", [float(d) for d in range(1, 101)]),
            *calls("alice", "echo", [0.0, 0.0], outcome="rate_limited", status=-31429),
            *calls("alice", "add", [5.0], outcome="tool_error"),
            *calls("bob", "echo", [7.0, 9.0], outcome="upstream_error", subscription=None),
        ]
    )
    by_client = await store.usage_summary(group_by="client")
    # alice's admitted durations: 1..100 and 5 (linear interpolation between ranks)
    assert by_client == [
        UsageSummary("alice", 103, 1, 2, 50.0, 95.0, 103 * 120, 103 * 340, 99.0),
        UsageSummary("bob", 2, 2, 0, 8.0, pytest.approx(8.9), 240, 680, pytest.approx(8.98)),  # type: ignore[arg-type]
    ]
    [echo] = await store.usage_summary(client="alice", tool="echo")
    assert echo.duration_ms_p50 == 50.5
    assert echo.duration_ms_p95 == pytest.approx(95.05)
    assert echo.duration_ms_p99 == pytest.approx(99.01)
    by_tool = await store.usage_summary(group_by="tool", client="alice")
    assert [(s.key, s.calls, s.errors) for s in by_tool] == [
        ("kit__add", 1, 1),
        ("kit__echo", 102, 0),
    ]
    by_subscription = await store.usage_summary(group_by="subscription")
    assert [(s.key, s.calls) for s in by_subscription] == [("alice-kit", 103), (None, 2)]
    [total] = await store.usage_summary()
    assert (total.key, total.calls, total.rejected) == (None, 105, 2)
    assert await store.usage_summary(client="carol") == []


async def test_summaries_filter_by_time_and_group_by_the_tenants_days(store: Store) -> None:
    late = datetime(2026, 3, 14, 23, 30, tzinfo=UTC)
    await store.insert_usage([record(at=late - timedelta(hours=1)), record(at=late)])
    by_day = await store.usage_summary(group_by="day")
    assert [(s.key, s.calls) for s in by_day] == [("2026-03-14", 2)]
    await set_timezone(store, "Europe/Paris")  # 23:30 UTC is 00:30 the next day there
    assert await store.timezone() == "Europe/Paris"
    by_day = await store.usage_summary(group_by="day")
    assert [(s.key, s.calls) for s in by_day] == [("2026-03-14", 1), ("2026-03-15", 1)]
    [window] = await store.usage_summary(since=late - timedelta(hours=1), until=late)
    assert window.calls == 1  # `since` inclusive, `until` exclusive
    [window] = await store.usage_summary(since=late)
    assert window.calls == 1


async def test_quota_counts_follow_the_calendar_of_the_time_zone(store: Store) -> None:
    # Tokyo is UTC+9: 15:00 UTC is midnight there.
    now = datetime(2026, 3, 14, 15, 30, tzinfo=UTC)  # 00:30 on 15 March in Tokyo
    await store.insert_usage(
        [
            record(at=datetime(2026, 3, 14, 14, 59, tzinfo=UTC)),  # 14 March, 23:59 Tokyo
            record(at=datetime(2026, 3, 14, 15, 1, tzinfo=UTC)),  # 15 March, 00:01 Tokyo
            record(at=datetime(2026, 3, 14, 15, 2, tzinfo=UTC), outcome="quota_exceeded"),
            record(at=datetime(2026, 3, 14, 15, 3, tzinfo=UTC), outcome="tool_error"),
            record(at=datetime(2026, 2, 28, 15, 30, tzinfo=UTC)),  # 1 March in Tokyo
            record(at=datetime(2026, 2, 28, 14, 30, tzinfo=UTC)),  # February everywhere
            record(at=datetime(2026, 3, 14, 15, 4, tzinfo=UTC), subscription=None),
            record(at=datetime(2026, 3, 14, 15, 5, tzinfo=UTC), subscription="bob-kit"),
        ]
    )
    assert await store.quota_counts(now, "Asia/Tokyo") == {"alice-kit": (2, 4), "bob-kit": (1, 1)}
    assert await store.quota_counts(now, "UTC") == {"alice-kit": (3, 3), "bob-kit": (1, 1)}
    assert await store.quota_counts(now + timedelta(days=40), "UTC") == {}


async def test_an_unknown_time_zone_is_refused(store: Store) -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        await store.quota_counts(AT, "Mars/Olympus_Mons")


async def test_the_daily_view_sums_each_utc_day(store: Store) -> None:
    await store.insert_usage(
        [
            record(at=datetime(2026, 3, 14, 0, 0, tzinfo=UTC)),
            record(at=datetime(2026, 3, 14, 23, 59, tzinfo=UTC), outcome="error"),
            record(at=datetime(2026, 3, 15, 0, 0, tzinfo=UTC), outcome="rate_limited"),
        ]
    )
    async with store.database.read() as session:
        rows = await session.execute(
            text("SELECT day, calls, errors, rejected, bytes_in FROM usage_daily ORDER BY day")
        )
        days = [(str(day), calls, errors, rejected, b) for day, calls, errors, rejected, b in rows]
    assert days == [("2026-03-14", 2, 1, 0, 240), ("2026-03-15", 1, 0, 1, 120)]


async def test_a_persons_calls_name_the_person_and_the_agent_apart_and_group_by_either(
    store: Store,
) -> None:
    alice = {"client": "user:alice@hospital.example", "person": "alice@hospital.example"}
    await store.insert_usage(
        [
            record(**alice, agent="claude-desktop"),
            record(**alice, agent="claude-desktop", outcome="tool_error"),
            record(**alice, agent="vscode"),
            record(
                client="user:bob@hospital.example", person="bob@hospital.example", agent="vscode"
            ),
            record(client="ci"),  # an API key: no person, no agent
        ]
    )
    by_person = await store.usage_summary(group_by="person")
    assert [(s.key, s.calls, s.errors) for s in by_person] == [
        ("alice@hospital.example", 3, 1),
        ("bob@hospital.example", 1, 0),
        (None, 1, 0),
    ]
    by_agent = await store.usage_summary(group_by="agent", person="ALICE@hospital.example")
    assert [(s.key, s.calls) for s in by_agent] == [("claude-desktop", 2), ("vscode", 1)]
    async with store.database.read() as session:
        stored = (
            await session.execute(
                select(UsageRow.client, UsageRow.person, UsageRow.agent).order_by(UsageRow.agent)
            )
        ).all()
    assert ("ci", None, None) in stored
    assert ("user:bob@hospital.example", "bob@hospital.example", "vscode") in stored
