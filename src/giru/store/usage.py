"""Usage queries: idempotent batch inserts, summaries with percentiles, quota counts.

Summaries read the matching rows and aggregate in Python (percentiles the same way on both
backends); the `usage_daily` view holds per-UTC-day totals for SQL users.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, Table, and_, case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from giru.errors import ValidationError
from giru.store.models import UsageRow, new_id

__all__ = [
    "ERROR_OUTCOMES",
    "GROUP_BY",
    "REJECTED_OUTCOMES",
    "GroupBy",
    "UsageQuery",
    "UsageSummary",
    "insert",
    "percentile",
    "periods",
    "quota_counts",
    "summary",
    "zone",
]

ERROR_OUTCOMES: Final = frozenset({"error", "upstream_error", "tool_error"})
"""Outcomes counted as `errors`."""
REJECTED_OUTCOMES: Final = frozenset(
    {"rate_limited", "quota_exceeded", "policy_denied", "policy_unavailable"}
)
"""Outcomes of calls the limits refused: counted as `rejected`, never against a quota."""
GroupBy = Literal["client", "subscription", "server", "tool", "day"]
GROUP_BY: Final[tuple[GroupBy, ...]] = ("client", "subscription", "server", "tool", "day")
_COLUMNS: Final = (
    "event_id",
    "at",
    "node",
    "subscription",
    "client",
    "server",
    "tool",
    "request_id",
    "duration_ms",
    "outcome",
    "status",
    "bytes_in",
    "bytes_out",
    "cost",
)
_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """Filters (all optional, combined with AND; `since` inclusive, `until` exclusive) and the
    grouping of a usage summary (None: one total)."""

    client: str | None = None
    subscription: str | None = None
    server: str | None = None
    tool: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    group_by: GroupBy | None = None


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """Totals of one group: `calls` counts every record, `errors` and `rejected` subsets of
    them; durations are the percentiles of the admitted (not rejected) calls."""

    key: str | None
    calls: int
    errors: int
    rejected: int
    duration_ms_p50: float | None
    duration_ms_p95: float | None
    bytes_in: int
    bytes_out: int


@dataclass(slots=True)
class _Group:
    calls: int = 0
    errors: int = 0
    rejected: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    durations: list[float] = field(default_factory=list)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; `ValidationError` when there is none by that name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"unknown time zone {name!r}") from exc


async def insert(
    session: AsyncSession,
    dialect: str,
    tenant_id: str,
    records: Sequence[Mapping[str, Any]],
    now: datetime,
) -> int:
    """Insert records whose `event_id` is new (others are skipped); the number inserted."""
    if not records:
        return 0
    stamps = {"tenant_id": tenant_id, "created_at": now, "updated_at": now}
    rows = [{"id": new_id(), **stamps, **_row(record)} for record in records]
    # Core, not the ORM's bulk path: on the table, the insert costs a fraction of the CPU (it
    # runs on the event loop the gateway serves from).
    table: Table = UsageRow.__table__  # type: ignore[assignment]  # a mapped class's Table
    build = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = build(table).on_conflict_do_nothing(index_elements=["event_id"])
    inserted = await session.execute(statement.returning(table.c.event_id), rows)
    return len(inserted.all())


def _row(record: Mapping[str, Any]) -> dict[str, Any]:
    return {name: record[name] for name in _COLUMNS}


async def summary(
    session: AsyncSession, tenant_id: str, query: UsageQuery, tz: tzinfo
) -> list[UsageSummary]:
    """One summary per group (by key, no key last); no rows, no items."""
    columns = (
        UsageRow.at,
        UsageRow.client,
        UsageRow.subscription,
        UsageRow.server,
        UsageRow.tool,
        UsageRow.outcome,
        UsageRow.duration_ms,
        UsageRow.bytes_in,
        UsageRow.bytes_out,
    )
    statement = select(*columns).where(*_filters(tenant_id, query))
    key = _key(query.group_by, tz)
    groups: dict[str | None, _Group] = {}
    result = await session.stream(statement.execution_options(yield_per=_CHUNK))
    async for chunk in result.partitions(_CHUNK):
        for row in chunk:
            _add(groups.setdefault(key(row), _Group()), row)
    ordered = sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or ""))
    return [_summary(name, group) for name, group in ordered]


def _filters(tenant_id: str, query: UsageQuery) -> list[ColumnElement[bool]]:
    where = [UsageRow.tenant_id == tenant_id]
    for column, value in (
        (UsageRow.client, query.client),
        (UsageRow.subscription, query.subscription),
        (UsageRow.server, query.server),
        (UsageRow.tool, query.tool),
    ):
        if value is not None:
            where.append(column == value)
    if query.since is not None:
        where.append(UsageRow.at >= query.since)
    if query.until is not None:
        where.append(UsageRow.at < query.until)
    return where


def _key(group_by: GroupBy | None, tz: tzinfo) -> Callable[[Any], str | None]:
    if group_by is None:
        return lambda _: None
    if group_by == "day":
        return lambda row: row.at.astimezone(tz).date().isoformat()
    if group_by == "tool":  # the name clients call: tools of two servers stay apart
        return lambda row: f"{row.server}__{row.tool}"
    return lambda row: getattr(row, group_by)


def _add(group: _Group, row: Any) -> None:  # a row of `summary`'s columns
    group.calls += 1
    group.bytes_in += row.bytes_in
    group.bytes_out += row.bytes_out
    if row.outcome in REJECTED_OUTCOMES:
        group.rejected += 1
        return
    if row.outcome in ERROR_OUTCOMES:
        group.errors += 1
    group.durations.append(row.duration_ms)


def _summary(key: str | None, group: _Group) -> UsageSummary:
    group.durations.sort()
    return UsageSummary(
        key=key,
        calls=group.calls,
        errors=group.errors,
        rejected=group.rejected,
        duration_ms_p50=percentile(group.durations, 0.50),
        duration_ms_p95=percentile(group.durations, 0.95),
        bytes_in=group.bytes_in,
        bytes_out=group.bytes_out,
    )


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """The `fraction` quantile of sorted values, interpolated linearly between the nearest
    ranks (numpy's default); None without values."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def quota_counts(
    session: AsyncSession, tenant_id: str, now: datetime, tz: tzinfo
) -> dict[str, tuple[int, int]]:
    """Admitted calls per subscription in the day and the month holding `now` in `tz`."""
    day_start, day_end, month_start, month_end = periods(now, tz)
    in_day = case((and_(UsageRow.at >= day_start, UsageRow.at < day_end), 1), else_=0)
    statement = (
        select(UsageRow.subscription, func.sum(in_day), func.count())
        .where(
            UsageRow.tenant_id == tenant_id,
            UsageRow.subscription.is_not(None),
            UsageRow.outcome.not_in(sorted(REJECTED_OUTCOMES)),
            UsageRow.at >= month_start,
            UsageRow.at < month_end,
        )
        .group_by(UsageRow.subscription)
    )
    rows = await session.execute(statement)
    return {name: (int(day or 0), int(month)) for name, day, month in rows}


def periods(now: datetime, tz: tzinfo) -> tuple[datetime, datetime, datetime, datetime]:
    """(day start, day end, month start, month end) around `now` in `tz`, as aware datetimes."""
    today = now.astimezone(tz).date()
    first = today.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return (
        _midnight(today, tz),
        _midnight(today + timedelta(days=1), tz),
        _midnight(first, tz),
        _midnight(following, tz),
    )


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz)
