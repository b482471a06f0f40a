"""`UsageWriter`: records go to the spool on the request path; a drain task stores them.

The drain takes sealed segments oldest first, inserts their records in batches (idempotent by
`event_id`, so a segment stored but not yet deleted before a crash is harmless to insert again),
and deletes a segment only after its last batch committed. While the store is down it retries
with a bounded exponential backoff, logging the outage once; records keep going to the spool
until it is full (`SpoolFullError`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Protocol

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from giru.errors import StoreUnavailableError
from giru.metering.records import UsageRecord
from giru.metering.spool import Batch, Spool

__all__ = ["UsageMetrics", "UsageSink", "UsageWriter"]

_log = structlog.get_logger(__name__)
_IDLE_S: Final = 0.5
_LINGER_S: Final = 0.25
_RIPE_BYTES: Final = 256 * 1024
_HEADROOM: Final = 64 * 1024
"""`check_capacity` refuses this close to the cap: room for the records of calls in flight."""


class UsageSink(Protocol):
    """Where drained records go (the `Store`)."""

    async def insert_usage(self, records: Sequence[UsageRecord]) -> int:
        """Insert in one transaction, skipping known event ids; raise `StoreUnavailableError`
        when the database cannot be reached."""
        ...


class UsageMetrics:
    """The metering metrics, registered in `registry`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.records = Counter(
            "giru_usage_records_total",
            "Usage records made durable in the spool, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.spool_bytes = Gauge(
            "giru_usage_spool_bytes",
            "Bytes in the usage spool not yet stored in the database.",
            registry=registry,
        )
        self.drained = Counter(
            "giru_usage_drained_total",
            "Usage records stored in the database from the spool.",
            registry=registry,
        )
        self.drain_failures = Counter(
            "giru_usage_drain_failures_total",
            "Failed attempts to store a batch of usage records (each is retried).",
            registry=registry,
        )
        self._by_outcome: dict[str, Any] = {}

    def count_record(self, outcome: str) -> None:
        child = self._by_outcome.get(outcome)
        if child is None:
            child = self._by_outcome[outcome] = self.records.labels(outcome)
        child.inc()


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
        self.metrics.spool_bytes.set_function(lambda: float(spool.size))
        self._sink = sink
        self._batch_size = batch_size
        self._headroom = min(_HEADROOM, spool.max_bytes // 16)
        self._backoff = backoff_s
        self._wake = asyncio.Event()  # something was appended, or a flush wants the drain
        self._hurry = asyncio.Event()  # a flush: cut the backoff short
        self._acked = asyncio.Condition()
        self._outage: tuple[float, int] | None = None  # (since, failures)
        spool.on_commit = self._wake.set
        self._task = asyncio.get_running_loop().create_task(
            self._drain(), name=f"giru-usage-drain:{spool.directory.name}"
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
        before any upstream side effect; `record` may still refuse when they overtake it).

        Raises:
            SpoolFullError: the spool is (nearly) at its cap.
            SpoolError: the spool is closed.
        """
        self.spool.check_capacity(self._headroom)

    async def record(self, record: UsageRecord) -> None:
        """Return once `record` is durable in the spool.

        Raises:
            SpoolFullError: the spool is at its cap; answer 503, the record was not taken.
            SpoolError: the spool is closed or could not write.
        """
        await self.spool.append(record)
        self.metrics.count_record(record["outcome"])

    async def flush(self, timeout: float = 10.0) -> bool:  # noqa: ASYNC109 -- a bound, not I/O
        """Store every record `record()` returned for before this call; False when that did not
        happen within `timeout` seconds (the store is down: they stay in the spool)."""
        target = await self.spool.seal()
        if target is None:
            return True
        self._wake.set()
        self._hurry.set()

        def stored() -> bool:
            sealed = self.spool.sealed
            return not sealed or sealed[0] > target

        try:
            async with asyncio.timeout(timeout), self._acked:
                await self._acked.wait_for(stored)
        except TimeoutError:
            return False
        return True

    async def aclose(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 -- a grace period
        """Flush (at most `timeout` seconds), stop the drain and close the spool; records not
        stored stay in the spool for the next start."""
        if not await self.flush(timeout):
            _log.warning(
                "usage records left in the spool",
                directory=str(self.spool.directory),
                bytes=self.spool.size,
            )
        self._task.cancel()
        await asyncio.wait([self._task])
        await self.spool.aclose()

    async def _drain(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._step()
            except Exception:  # noqa: BLE001 -- the drain's boundary: a bug or a disk error
                _log.exception("usage drain step failed", spool=str(self.spool.directory))
                await _wait(self._hurry, self._backoff[1])
                self._hurry.clear()

    async def _step(self) -> None:
        batch = await self.spool.next_batch()
        if batch is not None:
            await self._store(batch)
        elif self.spool.active_bytes:
            if self.spool.active_bytes < _RIPE_BYTES:  # gather a batch: an insert per linger,
                await _wait(self._hurry, _LINGER_S)  # not per call (a flush cuts it short)
                self._hurry.clear()
            await self.spool.seal()
        else:
            await _wait(self._wake, _IDLE_S)

    async def _store(self, batch: Batch) -> None:
        records = batch.records
        for start in range(0, len(records), self._batch_size):
            await self._insert(records[start : start + self._batch_size])
        await self.spool.ack(batch.segment)
        self.metrics.drained.inc(len(records))
        async with self._acked:
            self._acked.notify_all()

    async def _insert(self, records: Sequence[UsageRecord]) -> None:
        """Insert, retrying until it works (or the task is cancelled)."""
        while True:
            try:
                await self._sink.insert_usage(records)
            except StoreUnavailableError as exc:
                self._failed(exc, unexpected=False)
            except Exception as exc:  # noqa: BLE001 -- a bug or bad data: log it, keep retrying
                self._failed(exc, unexpected=True)
            else:
                self._recovered()
                return
            failures = self._outage[1] if self._outage else 1
            delay = min(self._backoff[1], self._backoff[0] * 2 ** min(failures - 1, 30))
            await _wait(self._hurry, delay * random.uniform(0.5, 1.0))  # noqa: S311 -- jitter
            self._hurry.clear()

    def _failed(self, exc: Exception, *, unexpected: bool) -> None:
        self.metrics.drain_failures.inc()
        if self._outage is not None:
            self._outage = (self._outage[0], self._outage[1] + 1)
            return
        self._outage = (time.monotonic(), 1)
        where = str(self.spool.directory)
        if unexpected:
            _log.error("usage drain failed; retrying", spool=where, exc_info=exc)
        else:
            _log.warning("usage drain waiting for the store", spool=where, error=str(exc))

    def _recovered(self) -> None:
        if self._outage is None:
            return
        since, failures = self._outage
        self._outage = None
        _log.info(
            "usage drain resumed",
            spool=str(self.spool.directory),
            failures=failures,
            seconds=round(time.monotonic() - since, 3),
        )


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Until `event` is set or `seconds` pass, whichever comes first."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        pass
