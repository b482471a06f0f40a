"""Audit queries: append chained records, a node's head, listings with filters, the chain in order.

The table is append-only (see migration 0004_audit): nothing here updates or deletes. Records
arrive already chained (`giru.audit.chain.link`); an insert that meets a stored event id or
(node, seq) changes nothing and raises `ConflictError` (code `audit_conflict`), so the single
writer of a node reloads its head and links again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import (
    ColumnElement,
    Table,
    Text,
    and_,
    cast,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from giru.errors import ConflictError
from giru.store.database import Database
from giru.store.models import AuditRow
from giru.store.records import Page
from giru.store.resources import check_limit
from giru.store.specs import bad_cursor, decode_cursor, encode_cursor
from giru.store.sqlite import BatchWriter, datetime_text, json_text

__all__ = [
    "AuditEntry",
    "AuditOrder",
    "AuditQuery",
    "chain",
    "count",
    "head",
    "insert_batch",
    "insert_records",
    "known",
    "page",
]

AuditOrder = Literal["newest", "oldest"]
COLUMNS: Final = (
    "event_id",
    "at",
    "node",
    "seq",
    "actor",
    "action",
    "server",
    "target",
    "outcome",
    "reasons",
    "policy_revision",
    "source_ip",
    "details",
    "prev_hash",
    "hash",
)
_CHUNK: Final = 1000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One stored audit record (the fields of `giru.audit.ChainedRecord`) and when it was
    stored (`stored_at`, not hashed)."""

    event_id: str
    at: datetime
    node: str
    seq: int
    actor: str
    action: str
    server: str | None
    target: str | None
    outcome: str
    reasons: list[Any]
    policy_revision: str | None
    source_ip: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str
    stored_at: datetime

    def fields(self) -> dict[str, Any]:
        """The record as a dict of its chained fields (what its hash covers, and the links)."""
        return {name: getattr(self, name) for name in COLUMNS}


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters, all optional and combined with AND (`since` inclusive, `until` exclusive)."""

    actor: str | None = None
    outcome: str | None = None
    action: str | None = None
    server: str | None = None
    target: str | None = None
    node: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    control: str | None = None
    """A compliance control (`PCI DSS Req 3.4`): records whose policy decision had it in scope
    (`details.policy.controls`) or whose violations cite it (`details.violations[].control`)."""


async def insert_records(
    connection: AsyncConnection,
    tenant_id: str,
    records: Sequence[Mapping[str, Any]],
    now: datetime,
    dialect: str = "sqlite",
) -> int:
    """Insert chained records in the connection's transaction (committed by the caller); the
    number inserted. `ConflictError` (rolled back) when one is stored already.

    On SQLite one driver-level statement binds a plain tuple per record, the JSON columns
    (`reasons`, `details`) as orjson's text and the times as SQLAlchemy's `DATETIME` text
    (`giru.store.sqlite`): what the ORM's insert wrote, at a fraction of its per-row CPU on
    the event loop (bench/drains.py); the store tests read the rows back through the ORM.
    PostgreSQL keeps the ORM's Core insert and the JSON type's binding.

    A row's id is its record's event id (a UUIDv7, unique already, as usage rows'): ids in
    time order go to the end of the primary key's index, where random ones (the rows stored
    before 2026-12-08 have UUIDv4 ids) land anywhere in it: about 5 µs of CPU per record at
    100,000 rows (bench/results/profile/2026-12-08-drain-batches.md), more as the table
    grows."""
    if not records:
        return 0
    try:
        if dialect == "sqlite":
            await connection.exec_driver_sql(_SQLITE_INSERT, _sqlite_rows(tenant_id, records, now))
        else:
            stamps = {"tenant_id": tenant_id, "created_at": now, "updated_at": now}
            rows = [{"id": r["event_id"], **stamps, **{c: r[c] for c in COLUMNS}} for r in records]
            table: Table = AuditRow.__table__  # type: ignore[assignment]  # a mapped class's Table
            await connection.execute(insert(table), rows)
    except IntegrityError as exc:
        await connection.rollback()
        raise _conflict(records) from exc
    return len(records)


async def insert_batch(
    batches: BatchWriter, tenant_id: str, records: Sequence[Mapping[str, Any]], now: datetime
) -> int:
    """`insert_records` on SQLite through the drains' `BatchWriter` (one hand-off per batch,
    its own transaction)."""
    if not records:
        return 0
    try:
        await batches.insert(_SQLITE_INSERT, _sqlite_rows(tenant_id, records, now))
    except sqlite3.IntegrityError as exc:
        raise _conflict(records) from exc
    return len(records)


def _conflict(records: Sequence[Mapping[str, Any]]) -> ConflictError:
    first = records[0]
    return ConflictError(
        f"audit records of node {first['node']!r} from seq {first['seq']} conflict with "
        "stored ones (an event id or a sequence number is taken)",
        code="audit_conflict",
    )


# Built from constant names only; every value is a bound parameter.
_SQLITE_INSERT: Final = (
    f"INSERT INTO {AuditRow.__tablename__} "  # noqa: S608
    f"(id, tenant_id, created_at, updated_at, {', '.join(COLUMNS)}) "
    f"VALUES (?1, ?2, ?3, ?3, {', '.join(f'?{i}' for i in range(4, 4 + len(COLUMNS)))})"
)


def _sqlite_rows(
    tenant_id: str, records: Sequence[Mapping[str, Any]], now: datetime
) -> list[tuple[Any, ...]]:
    """The parameters of `_SQLITE_INSERT`, one tuple per record, in `COLUMNS` order."""
    stamp = datetime_text(now)
    return [
        (
            r["event_id"],
            tenant_id,
            stamp,
            r["event_id"],
            datetime_text(r["at"]),
            r["node"],
            r["seq"],
            r["actor"],
            r["action"],
            r["server"],
            r["target"],
            r["outcome"],
            json_text(r["reasons"]),
            r["policy_revision"],
            r["source_ip"],
            json_text(r["details"]),
            r["prev_hash"],
            r["hash"],
        )
        for r in records
    ]


async def known(session: AsyncSession, event_ids: Sequence[str]) -> set[str]:
    """The event ids among `event_ids` that are stored."""
    found: set[str] = set()
    for start in range(0, len(event_ids), _CHUNK):
        chunk = list(event_ids[start : start + _CHUNK])
        rows = await session.scalars(select(AuditRow.event_id).where(AuditRow.event_id.in_(chunk)))
        found.update(rows)
    return found


async def record(session: AsyncSession, tenant_id: str, event_id: str) -> AuditEntry | None:
    """The tenant's record with `event_id`; None when there is none."""
    row = await session.scalar(
        select(AuditRow).where(AuditRow.tenant_id == tenant_id, AuditRow.event_id == event_id)
    )
    return None if row is None else _entry(row)


async def head(session: AsyncSession, node: str) -> tuple[int, str] | None:
    """(seq, hash) of the node's newest record; None when it has none."""
    row = (
        await session.execute(
            select(AuditRow.seq, AuditRow.hash)
            .where(AuditRow.node == node)
            .order_by(AuditRow.seq.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else (int(row.seq), str(row.hash))


async def count(session: AsyncSession, node: str | None = None) -> int:
    """Records stored (of `node`)."""
    statement = select(func.count()).select_from(AuditRow)
    if node is not None:
        statement = statement.where(AuditRow.node == node)
    return int(await session.scalar(statement) or 0)


async def page(
    session: AsyncSession,
    tenant_id: str,
    query: AuditQuery,
    *,
    order: AuditOrder = "newest",
    limit: int,
    cursor: str | None,
    dialect: str = "sqlite",
) -> Page[AuditEntry]:
    """The tenant's records matching `query` by (at, node, seq), newest or oldest first, after
    `cursor`."""
    check_limit(limit)
    where = [AuditRow.tenant_id == tenant_id, *_filters(query, dialect)]
    newest = order == "newest"
    if cursor is not None:
        where.append(_after(_position(cursor), newest=newest))
    keys = (AuditRow.at, AuditRow.node, AuditRow.seq)
    statement = (
        select(AuditRow)
        .where(*where)
        .order_by(*(key.desc() if newest else key.asc() for key in keys))
        .limit(limit + 1)
    )
    rows = list(await session.scalars(statement))
    more, rows = len(rows) > limit, rows[:limit]
    last = rows[-1] if more else None
    next_cursor = None if last is None else _cursor(last)
    return Page([_entry(row) for row in rows], next_cursor)


async def chain(
    database: Database, *, node: str | None = None, chunk: int = _CHUNK
) -> AsyncIterator[AuditEntry]:
    """Every record (of `node`) in (node, seq) order, read `chunk` at a time, each chunk in a
    short transaction of its own (keyset paging: records appended meanwhile are included)."""
    after: tuple[str, int] | None = None
    while True:
        statement = select(AuditRow)
        if node is not None:
            statement = statement.where(AuditRow.node == node)
        if after is not None:
            statement = statement.where(
                or_(
                    AuditRow.node > after[0],
                    and_(AuditRow.node == after[0], AuditRow.seq > after[1]),
                )
            )
        statement = statement.order_by(AuditRow.node, AuditRow.seq).limit(chunk)
        async with database.read() as session:
            rows = list(await session.scalars(statement))
        for row in rows:
            yield _entry(row)
        if len(rows) < chunk:
            return
        after = (rows[-1].node, rows[-1].seq)


def _filters(query: AuditQuery, dialect: str) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    for column, value in (
        (AuditRow.actor, query.actor),
        (AuditRow.outcome, query.outcome),
        (AuditRow.action, query.action),
        (AuditRow.server, query.server),
        (AuditRow.target, query.target),
        (AuditRow.node, query.node),
    ):
        if value is not None:
            where.append(column == value)
    if query.since is not None:
        where.append(AuditRow.at >= query.since)
    if query.until is not None:
        where.append(AuditRow.at < query.until)
    if query.control is not None:
        where.append(_cites(dialect, query.control))
    return where


# Where a record names its controls: the decision's controls in scope (a list of strings) and
# each violation's control. Lax JSON path on PostgreSQL, json_each on SQLite: a record whose
# details hold something else there (or nothing) simply does not match.
_CONTROL_PATH: Final = "$ ? (@.policy.controls[*] == $c || @.violations[*].control == $c)"


def _cites(dialect: str, control: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return func.jsonb_path_exists(
            cast(AuditRow.details, JSONB),
            literal_column(f"'{_CONTROL_PATH}'::jsonpath"),
            func.jsonb_build_object(literal_column("'c'"), cast(control, Text)),
        )
    in_scope = func.json_each(AuditRow.details, "$.policy.controls").table_valued("value")
    violations = func.json_each(AuditRow.details, "$.violations").table_valued("fullkey")
    cited = func.json_extract(AuditRow.details, violations.c.fullkey.concat(".control"))
    return or_(
        exists(
            select(literal_column("1")).select_from(in_scope).where(in_scope.c.value == control)
        ),
        exists(select(literal_column("1")).select_from(violations).where(cited == control)),
    )


def _after(position: tuple[datetime, str, int], *, newest: bool) -> ColumnElement[bool]:
    at, node, seq = position
    if newest:
        return or_(
            AuditRow.at < at,
            and_(
                AuditRow.at == at,
                or_(AuditRow.node < node, and_(AuditRow.node == node, AuditRow.seq < seq)),
            ),
        )
    return or_(
        AuditRow.at > at,
        and_(
            AuditRow.at == at,
            or_(AuditRow.node > node, and_(AuditRow.node == node, AuditRow.seq > seq)),
        ),
    )


def _cursor(row: AuditRow) -> str:
    return encode_cursor([row.at.isoformat(), row.node, str(row.seq)])


def _position(cursor: str) -> tuple[datetime, str, int]:
    at, node, seq = decode_cursor(cursor, 3)
    try:
        moment = datetime.fromisoformat(at)
        number = int(seq)
    except ValueError as exc:
        raise bad_cursor() from exc
    if moment.tzinfo is None:
        raise bad_cursor()
    return moment, node, number


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        event_id=row.event_id,
        at=row.at,
        node=row.node,
        seq=row.seq,
        actor=row.actor,
        action=row.action,
        server=row.server,
        target=row.target,
        outcome=row.outcome,
        reasons=row.reasons,
        policy_revision=row.policy_revision,
        source_ip=row.source_ip,
        details=row.details,
        prev_hash=row.prev_hash,
        hash=row.hash,
        stored_at=row.created_at,
    )
