"""`AuditLog`: records go to a local spool on the request path; a drain task chains and stores them.

`record` returns once the record is on disk (see `giru.metering.spool`). The drain takes sealed
segments oldest first and, per batch: links the records after their node's head (loaded from
the store on first sight, then kept) and inserts them in one transaction; when that conflicts
with records whose event id is stored already (a segment stored but not deleted before a
crash), it drops those and links the rest again. It deletes a segment only after its last batch
committed. So this process is the single writer of the nodes
whose records sit in its spool. Any failure forgets the heads (they are reloaded): an insert
whose commit was lost in the outage, or another writer of the node, cannot fork the chain, only
delay it. While the store is down it retries with a bounded exponential backoff; records keep
going to the spool until it is full, then `check_capacity` / `record` raise
`AuditSpoolFullError`: back-pressure, never a dropped record.

A metered tools/call's usage record rides in its audit record's frame (`submit(record, usage)`):
one append and one commit for both, and the drain inserts the batch's usage records (idempotent
by event id) before it chains and inserts the audit records.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, Final, Protocol

from giru.audit.chain import Head, link
from giru.audit.metrics import AuditMetrics
from giru.audit.records import (
    AUDIT_CODEC,
    AuditRecord,
    AuditSpoolError,
    AuditSpoolFullError,
    ChainedRecord,
    Entry,
)
from giru.errors import ConflictError, StoreUnavailableError
from giru.metering.drain import Drain, DrainMetrics
from giru.metering.records import UsageRecord
from giru.metering.spool import Spool, SpoolError, SpoolFullError

__all__ = ["AuditLog", "AuditSpoolError", "AuditSpoolFullError", "AuditStore"]

_LINGER_S: Final = 0.1


class AuditStore(Protocol):
    """What the drain needs of the `Store`."""

    async def audit_head(self, node: str) -> tuple[int, str] | None: ...

    async def audit_known(self, event_ids: Sequence[str]) -> set[str]: ...

    async def insert_audit(self, records: Sequence[Any]) -> int:
        """Insert chained records in one transaction; raise `StoreUnavailableError` when the
        database cannot be reached, `ConflictError` when one is stored already."""
        ...

    async def insert_usage(self, records: Sequence[UsageRecord]) -> int:
        """Insert usage records in one transaction, skipping known event ids."""
        ...


class AuditLog:
    """Owns an audit `Spool` and the task draining it into an `AuditStore`; close with
    `aclose()`. Construct on the event loop (the drain starts at once), or use `open`.

    `usage_metrics`: where the usage records it carries are counted (`giru_usage_records_total`
    once durable, `giru_usage_drained_total` once stored); None: not counted."""

    def __init__(
        self,
        store: AuditStore,
        spool: Spool[Entry],
        *,
        metrics: AuditMetrics | None = None,
        usage_metrics: DrainMetrics | None = None,
        batch_size: int = 500,
        backoff_s: tuple[float, float] = (0.05, 5.0),
    ) -> None:
        self.spool = spool
        self.metrics = metrics if metrics is not None else AuditMetrics()
        self.usage_metrics = usage_metrics
        self._store = store
        self._heads: dict[str, Head] = {}
        self._drain = Drain(
            spool,
            self._chain_and_insert,
            self.metrics,
            linger_s=_LINGER_S,
            batch_size=batch_size,
            backoff_s=backoff_s,
            expected=(StoreUnavailableError, ConflictError),  # a conflict: another writer
        )

    @classmethod
    async def open(
        cls,
        store: AuditStore,
        spool_dir: Path,
        *,
        metrics: AuditMetrics | None = None,
        usage_metrics: DrainMetrics | None = None,
        max_bytes: int = 256 * 1024 * 1024,
        group_commit_ms: float = 0.0,
        batch_size: int = 500,
        backoff_s: tuple[float, float] = (0.05, 5.0),
        slots: int = 64,
    ) -> AuditLog:
        """Take the first free spool slot under `spool_dir` (`spool_dir/0`, `/1`, ...: one per
        process; a process started after one died drains the dead one's records), recover it
        and start draining it. Use a directory of its own, not the usage spool's.

        Raises:
            AuditSpoolError: all `slots` directories are held by live processes.
        """
        try:
            spool = await Spool.open_slot(
                spool_dir,
                slots=slots,
                codec=AUDIT_CODEC,
                max_bytes=max_bytes,
                group_commit_ms=group_commit_ms,
            )
        except SpoolError as exc:
            raise AuditSpoolError(exc.message, data=exc.data) from exc
        return cls(
            store,
            spool,
            metrics=metrics,
            usage_metrics=usage_metrics,
            batch_size=batch_size,
            backoff_s=backoff_s,
        )

    def check_capacity(self) -> None:
        """Raise unless the spool has room for the records of the calls in flight (call it
        before any side effect; `record` may still refuse when they overtake it).

        Raises:
            AuditSpoolFullError: the spool is (nearly) at its cap.
            AuditSpoolError: the spool is closed.
        """
        try:
            self._drain.check_capacity()
        except SpoolError as exc:
            raise _translated(exc) from exc

    def submit(self, record: AuditRecord, usage: UsageRecord | None = None) -> asyncio.Future[None]:
        """Queue `record` (with its call's `usage` record, in the same frame) for the spool's
        next group commit; the future is done once it is durable (await it; its exception:
        `AuditSpoolError`, the write failed).

        Raises:
            AuditSpoolFullError: the spool is at its cap; answer 503, the record was not taken.
            AuditSpoolError: the spool is closed or the record is malformed (a field of the
                wrong type: a bug in the caller).
        """
        try:
            durable = self.spool.submit(Entry(record, usage))
        except SpoolError as exc:
            self.metrics.refused.inc()
            raise _translated(exc) from exc
        outcome = usage["outcome"] if usage is not None else None
        durable.add_done_callback(partial(self._counted, record["outcome"], outcome))
        return durable

    async def record(self, record: AuditRecord) -> None:
        """Return once `record` is durable in the spool (`submit`, awaited).

        Raises:
            AuditSpoolFullError: the spool is at its cap; answer 503, the record was not taken.
            AuditSpoolError: the spool is closed, could not write, or the record is malformed.
        """
        await self.submit(record)

    async def flush(self, timeout: float = 10.0) -> bool:  # noqa: ASYNC109 -- a bound, not I/O
        """Store every record `record()` returned for before this call; False when that did not
        happen within `timeout` seconds (the store is down: they stay in the spool)."""
        return await self._drain.flush(timeout)

    async def aclose(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 -- a grace period
        """Flush (at most `timeout` seconds), stop the drain and close the spool; records not
        stored stay in the spool for the next start."""
        await self._drain.aclose(timeout)

    def _counted(self, outcome: str, usage: str | None, durable: asyncio.Future[None]) -> None:
        """(done callback of a submitted record) Count it as recorded, or refused; the usage
        record it carries (its outcome: `usage`) as recorded."""
        if durable.cancelled():  # its caller stopped waiting: the record is written all the same
            return
        if durable.exception() is not None:
            self.metrics.refused.inc()
            return
        self.metrics.count_record(outcome)
        if usage is not None and self.usage_metrics is not None:
            self.usage_metrics.count_record(usage)

    async def _chain_and_insert(self, entries: Sequence[Entry]) -> int:
        """Insert the usage records the entries carry, then chain the audit records and insert
        them in one transaction; any failure forgets the heads (the insert may have committed
        after all: reload). A retry inserts the usage records again: they are skipped by event
        id.

        No query for stored event ids first: the table's unique event id makes an insert that
        commits the one that query would have let through. One that conflicts changed nothing;
        then the records stored already (a segment stored but not deleted before a crash, a
        commit whose acknowledgement was lost) are dropped and the rest chained again, and when
        none was stored the conflict stands (another writer of the node)."""
        usage = [entry.usage for entry in entries if entry.usage is not None]
        if usage:
            await self._store.insert_usage(usage)
        records = [entry.record for entry in entries]
        try:
            try:
                chained, heads = await self._link(records)
                if chained:
                    await self._store.insert_audit(chained)
            except ConflictError:
                stored = await self._store.audit_known([r["event_id"] for r in records])
                if not stored:
                    raise
                chained, heads = await self._link(
                    [r for r in records if r["event_id"] not in stored]
                )
                if chained:
                    await self._store.insert_audit(chained)
        except Exception:
            self._heads.clear()
            raise
        self._heads.update(heads)
        if usage and self.usage_metrics is not None:
            self.usage_metrics.drained.inc(len(usage))
        return len(chained)

    async def _link(
        self, records: Sequence[AuditRecord]
    ) -> tuple[list[ChainedRecord], dict[str, Head]]:
        """`records` chained after their nodes' heads (loaded from the store on first sight)."""
        for node in {r["node"] for r in records} - set(self._heads):
            found = await self._store.audit_head(node)
            self._heads[node] = Head(*found) if found is not None else Head()
        return link(records, self._heads)


def _translated(exc: SpoolError) -> AuditSpoolError:
    if isinstance(exc, SpoolFullError):
        return AuditSpoolFullError(exc.message, data=exc.data)
    return AuditSpoolError(exc.message, data=exc.data)
