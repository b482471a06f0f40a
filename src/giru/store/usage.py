"""Usage queries: idempotent batch inserts, summaries with percentiles, quota counts.

Summaries read the matching rows and aggregate in Python (percentiles the same way on both
backends); the `usage_daily` view holds per-UTC-day totals for SQL users.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from giru.errors import ValidationError
from giru.store.models import UsageRow
from giru.store.sqlite import BatchWriter, datetime_text

__all__ = [
    "ERROR_OUTCOMES",
    "GROUP_BY",
    "REJECTED_OUTCOMES",
    "GroupBy",
    "UsageQuery",
    "UsageSummary",
    "insert",
    "insert_batch",
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
GroupBy = Literal["client", "subscription", "server", "tool", "day", "person", "agent"]
GROUP_BY: Final[tuple[GroupBy, ...]] = (
    "client",
    "subscription",
    "server",
    "tool",
    "day",
    "person",
    "agent",
)
_COLUMN_TYPES: Final = {  # a usage record's fields, with their PostgreSQL types
    "event_id": "varchar",
    "at": "timestamptz",
    "node": "text",
    "subscription": "text",
    "client": "text",
    "server": "text",
    "tool": "text",
    "request_id": "text",
    "duration_ms": "float8",
    "outcome": "varchar",
    "status": "int",
    "bytes_in": "bigint",
    "bytes_out": "bigint",
    "cost": "numeric",
    "person": "text",
    "agent": "text",
    "trace_id": "varchar",
}
_COLUMNS: Final = tuple(_COLUMN_TYPES)
_PICK: Final = operator.itemgetter(*_COLUMNS)
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
    person: str | None = None
    """A person's label (email, else subject), matched without regard to case."""


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
    duration_ms_p99: float | None = None


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
    connection: AsyncConnection,
    dialect: str,
    tenant_id: str,
    records: Sequence[Mapping[str, Any]],
    now: datetime,
) -> int:
    """Insert records whose `event_id` is new (others are skipped); the number inserted. A
    row's id is its event id (a UUIDv7, unique already), so any conflict means "stored".

    One driver-level statement per batch: the drain runs on the event loop the gateway serves
    from, and SQLAlchemy's per-row parameter processing cost 21 µs (PostgreSQL) to 37 µs
    (SQLite) of CPU per record; this costs a fraction of that (bench/governance.py). The
    statements are checked against the ORM's reading of the rows by the store tests.
    """
    if not records:
        return 0
    if dialect == "postgresql":
        columns = list(zip(*map(_PICK, records), strict=True))  # one array per column
        result = await connection.exec_driver_sql(_POSTGRES_INSERT, (tenant_id, now, *columns))
    else:
        result = await connection.exec_driver_sql(
            _SQLITE_INSERT, _sqlite_rows(tenant_id, records, now)
        )
    return max(result.rowcount, 0)


async def insert_batch(
    batches: BatchWriter, tenant_id: str, records: Sequence[Mapping[str, Any]], now: datetime
) -> int:
    """`insert` on SQLite through the drains' `BatchWriter` (one hand-off per batch)."""
    if not records:
        return 0
    return max(await batches.insert(_SQLITE_INSERT, _sqlite_rows(tenant_id, records, now)), 0)


_TABLE: Final = UsageRow.__tablename__
_ARRAYS: Final = ", ".join(f"${i}::{kind}[]" for i, kind in enumerate(_COLUMN_TYPES.values(), 3))
# Built from constant names only; every value is a bound parameter.
_POSTGRES_INSERT: Final = (
    f"INSERT INTO {_TABLE} (id, tenant_id, created_at, updated_at, {', '.join(_COLUMNS)}) "  # noqa: S608
    f"SELECT u.event_id, $1, $2, $2, {', '.join(f'u.{c}' for c in _COLUMNS)} "
    f"FROM unnest({_ARRAYS}) AS u({', '.join(_COLUMNS)}) "
    "ON CONFLICT DO NOTHING"
)
_SQLITE_INSERT: Final = (
    f"INSERT INTO {_TABLE} (id, tenant_id, created_at, updated_at, {', '.join(_COLUMNS)}) "  # noqa: S608
    f"VALUES (?3, ?1, ?2, ?2, {', '.join(f'?{i}' for i in range(3, 3 + len(_COLUMNS)))}) "
    "ON CONFLICT DO NOTHING"
)


def _sqlite_rows(
    tenant_id: str, records: Sequence[Mapping[str, Any]], now: datetime
) -> list[tuple[Any, ...]]:
    """`_SQLITE_INSERT`'s parameters: per record, `_PICK`'s values with the time (`at`, the
    second) as SQLite stores it."""
    stamp = datetime_text(now)
    return [
        (tenant_id, stamp, values[0], datetime_text(values[1]), *values[2:])
        for values in map(_PICK, records)
    ]


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
        UsageRow.person,
        UsageRow.agent,
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
    if query.person is not None:
        where.append(func.lower(UsageRow.person) == query.person.lower())
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
        duration_ms_p99=percentile(group.durations, 0.99),
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
