"""`UsageWriter`: records go to the spool on the request path; a drain task stores them.

The drain (`giru.metering.drain`) inserts sealed segments oldest first in batches, idempotent by
`event_id` (a segment stored but not yet deleted before a crash is harmless to insert again), and
retries while the store is down; records keep going to the spool until it is full
(`SpoolFullError`). It lingers to make bigger batches: an insert per linger, not per call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Final, Protocol

from prometheus_client import CollectorRegistry

from giru.metering.drain import Drain, DrainMetrics
from giru.metering.records import UsageRecord
from giru.metering.spool import Spool

__all__ = ["UsageMetrics", "UsageSink", "UsageWriter"]

_LINGER_S: Final = 0.25


class UsageSink(Protocol):
    """Where drained records go (the `Store`)."""

    async def insert_usage(self, records: Sequence[UsageRecord]) -> int:
        """Insert in one transaction, skipping known event ids; raise `StoreUnavailableError`
        when the database cannot be reached."""
        ...


class UsageMetrics(DrainMetrics):
    """The metering metrics, registered in `registry`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry, "usage", failures="drain_failures")
        self.drain_failures = self.failures


class UsageWriter:
    """Owns a `Spool` and the task draining it into a `UsageSink`; close with `aclose()`.

    Construct on the event loop (the drain task starts at once), or use `UsageWriter.open`.
    """

    def __init__(
        self,
        sink: UsageSink,
        spool: Spool,
        *,
        registry: CollectorRegistry | None = None,
        batch_size: int = 500,
        backoff_s: tuple[float, float] = (0.05, 5.0),
    ) -> None:
        self.spool = spool
        self.metrics = UsageMetrics(registry if registry is not None else CollectorRegistry())
        self._sink = sink
        self._drain = Drain(
            spool,
            self._insert,
            self.metrics,
            linger_s=_LINGER_S,
            batch_size=batch_size,
            backoff_s=backoff_s,
        )

    @classmethod
    async def open(
        cls,
        sink: UsageSink,
        base: Path,
        *,
        max_bytes: int,
        group_commit_ms: float,
        batch_size: int,
        registry: CollectorRegistry | None = None,
    ) -> UsageWriter:
        """Take the first free spool slot under `base` (see `Spool.open_slot`), recover it and
        start draining it (`GIRU_METERING__*` settings: spool_max_bytes, group_commit_ms,
        batch_size)."""
        spool = await Spool.open_slot(base, max_bytes=max_bytes, group_commit_ms=group_commit_ms)
        return cls(sink, spool, registry=registry, batch_size=batch_size)

    def check_capacity(self) -> None:
        """Raise unless the spool has room for the records of the calls in flight (call it
        before any upstream side effect; `submit` may still refuse when they overtake it).

        Raises:
            SpoolFullError: the spool is (nearly) at its cap.
            SpoolError: the spool is closed.
        """
        self._drain.check_capacity()

    def submit(self, record: UsageRecord) -> asyncio.Future[None]:
        """Queue `record` for the spool's next group commit; the future is done once it is
        durable (await it; its exception: `SpoolError`, the write failed).

        Raises:
            SpoolFullError: the spool is at its cap; answer 503, the record was not taken.
            SpoolError: the spool is closed or the record cannot be encoded.
        """
        durable = self.spool.submit(record)
        durable.add_done_callback(partial(self._counted, record["outcome"]))
        return durable

    def _counted(self, outcome: str, durable: asyncio.Future[None]) -> None:
        """(done callback of a submitted record) Count it once durable."""
        if not durable.cancelled() and durable.exception() is None:
            self.metrics.count_record(outcome)

    async def flush(self, timeout: float = 10.0) -> bool:  # noqa: ASYNC109 -- a bound, not I/O
        """Store every record submitted and durable before this call; False when that did not
        happen within `timeout` seconds (the store is down: they stay in the spool)."""
        return await self._drain.flush(timeout)

    async def aclose(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 -- a grace period
        """Flush (at most `timeout` seconds), stop the drain and close the spool; records not
        stored stay in the spool for the next start."""
        await self._drain.aclose(timeout)

    async def _insert(self, records: Sequence[UsageRecord]) -> int:
        await self._sink.insert_usage(records)
        return len(records)  # drained: taken from the spool, whether new to the store or not
