"""`Drain`: the task that stores a spool's sealed segments in the database, oldest first.

Shared by `UsageWriter` and `AuditLog`. Per segment it stores the records in batches through a
`store` callable and deletes the segment only after its last batch committed (so a store must be
idempotent: a segment stored but not deleted before a crash is stored again). While the store is
down it retries with a bounded exponential backoff, logging the outage once; records keep going
to the spool until it is full. Its log events and metrics are named by the spool's codec
(`usage`, `audit`): `<kind> drain waiting for the store`, `giru_<kind>_drained_total`, ...
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Generic

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge
from typing_extensions import TypeVar

from giru.errors import StoreUnavailableError
from giru.metering.records import UsageRecord
from giru.metering.spool import Batch, Spool

__all__ = ["Drain", "DrainMetrics"]

R = TypeVar("R", default=UsageRecord)
_log = structlog.get_logger(__name__)
_IDLE_S: Final = 0.5
_RIPE_BYTES: Final = 256 * 1024
_HEADROOM: Final = 64 * 1024
"""`check_capacity` refuses this close to the cap: room for the records of calls in flight."""


class DrainMetrics:
    """The metrics of a drained spool of `kind` records (`giru_<kind>_records_total` by
    outcome, `giru_<kind>_spool_bytes`, `giru_<kind>_spool_max_bytes`,
    `giru_<kind>_drain_lag_seconds`, `giru_<kind>_drained_total` and
    `giru_<kind>_<failures>_total`), registered in `registry`."""

    def __init__(self, registry: CollectorRegistry, kind: str, *, failures: str) -> None:
        noun = kind.capitalize()
        self.records = Counter(
            f"giru_{kind}_records_total",
            f"{noun} records made durable in the spool, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.spool_bytes = Gauge(
            f"giru_{kind}_spool_bytes",
            f"Bytes in the {kind} spool not yet stored in the database.",
            registry=registry,
        )
        self.spool_max_bytes = Gauge(
            f"giru_{kind}_spool_max_bytes",
            f"The {kind} spool's cap: near it, calls are refused (back-pressure).",
            registry=registry,
        )
        self.drain_lag = Gauge(
            f"giru_{kind}_drain_lag_seconds",
            f"Age of the oldest {kind} record in the spool not yet stored in the database "
            "(0 when the spool is empty); grows while the drain is stalled.",
            registry=registry,
        )
        self.drained = Counter(
            f"giru_{kind}_drained_total",
            f"{noun} records stored in the database from the spool.",
            registry=registry,
        )
        self.failures = Counter(
            f"giru_{kind}_{failures}_total",
            f"Failed attempts to store a batch of {kind} records (each is retried).",
            registry=registry,
        )
        self._by_outcome: dict[str, Any] = {}

    def count_record(self, outcome: str) -> None:
        child = self._by_outcome.get(outcome)
        if child is None:
            child = self._by_outcome[outcome] = self.records.labels(outcome)
        child.inc()


class Drain(Generic[R]):
    """Owns the task draining `spool` through `store`; close with `aclose()`. Construct on the
    event loop (the task starts at once).

    `store(records)` stores one batch (at most `batch_size` records) in one transaction and
    returns how many to count as drained; it is retried until it works. Its `expected` errors
    are an outage (a warning), any other an error. The drain lingers up to `linger_s` to gather
    a bigger batch when little is waiting (a flush cuts it short).
    """

    def __init__(
        self,
        spool: Spool[R],
        store: Callable[[Sequence[R]], Awaitable[int]],
        metrics: DrainMetrics,
        *,
        linger_s: float,
        batch_size: int = 500,
        backoff_s: tuple[float, float] = (0.05, 5.0),
        expected: tuple[type[Exception], ...] = (StoreUnavailableError,),
    ) -> None:
        self.spool = spool
        self._store = store
        self._metrics = metrics
        self._kind = spool.codec.name
        self._linger_s = linger_s
        self._batch_size = batch_size
        self._backoff = backoff_s
        self._expected = expected
        self._headroom = min(_HEADROOM, spool.max_bytes // 16)
        self._wake = asyncio.Event()  # something was appended, or a flush wants the drain
        self._hurry = asyncio.Event()  # a flush: cut the backoff short
        self._acked = asyncio.Condition()
        self._outage: tuple[float, int] | None = None  # (since, failures)
        self._pending_since: float | None = time.time() if spool.size else None
        """When the oldest record not yet stored was made (epoch seconds; None: none waits)."""
        metrics.spool_bytes.set_function(lambda: float(spool.size))
        metrics.spool_max_bytes.set(spool.max_bytes)
        metrics.drain_lag.set_function(self._lag)
        spool.on_commit = self._committed
        self._task = asyncio.get_running_loop().create_task(
            self._drain(), name=f"giru-{self._kind}-drain:{spool.directory.name}"
        )

    def _committed(self) -> None:
        if self._pending_since is None:
            self._pending_since = time.time()
        self._wake.set()

    def _lag(self) -> float:
        since = self._pending_since
        if since is None or not self.spool.size:
            return 0.0
        return max(0.0, time.time() - since)

    def check_capacity(self) -> None:
        """Raise `SpoolFullError` when the spool is within the headroom of its cap,
        `SpoolError` when it is closed."""
        self.spool.check_capacity(self._headroom)

    async def flush(self, timeout: float) -> bool:  # noqa: ASYNC109 -- a bound, not I/O
        """Store every record appended before this call; False when that did not happen within
        `timeout` seconds (the store is down: they stay in the spool)."""
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

    async def aclose(self, timeout: float) -> None:  # noqa: ASYNC109 -- a grace period
        """Flush (at most `timeout` seconds), stop the drain and close the spool; records not
        stored stay in the spool for the next start."""
        if not await self.flush(timeout):
            _log.warning(
                f"{self._kind} records left in the spool",
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
                _log.exception(f"{self._kind} drain step failed", spool=str(self.spool.directory))
                await _wait(self._hurry, self._backoff[1])
                self._hurry.clear()

    async def _step(self) -> None:
        batch = await self.spool.next_batch()
        if batch is not None:
            await self._store_segment(batch)
        elif self.spool.active_bytes:
            if self.spool.active_bytes < _RIPE_BYTES:  # gather a batch: an insert per linger,
                await _wait(self._hurry, self._linger_s)  # not per call
                self._hurry.clear()
            await self.spool.seal()
        else:
            await _wait(self._wake, _IDLE_S)

    async def _store_segment(self, batch: Batch[R]) -> None:
        records = batch.records
        made = _made_at(records[0]) if records else None
        if made is not None:
            self._pending_since = made
        stored = 0
        for start in range(0, len(records), self._batch_size):
            stored += await self._insert(records[start : start + self._batch_size])
        await self.spool.ack(batch.segment)
        if not self.spool.size:
            self._pending_since = None
        self._metrics.drained.inc(stored)
        async with self._acked:
            self._acked.notify_all()

    async def _insert(self, records: Sequence[R]) -> int:
        """Store, retrying until it works (or the task is cancelled)."""
        while True:
            try:
                stored = await self._store(records)
            except Exception as exc:  # noqa: BLE001 -- an outage, a bug or bad data: retry
                self._failed(exc, unexpected=not isinstance(exc, self._expected))
            else:
                self._recovered()
                return stored
            failures = self._outage[1] if self._outage else 1
            delay = min(self._backoff[1], self._backoff[0] * 2 ** min(failures - 1, 30))
            await _wait(self._hurry, delay * random.uniform(0.5, 1.0))  # noqa: S311 -- jitter
            self._hurry.clear()

    def _failed(self, exc: Exception, *, unexpected: bool) -> None:
        self._metrics.failures.inc()
        if self._outage is not None:
            self._outage = (self._outage[0], self._outage[1] + 1)
            return
        self._outage = (time.monotonic(), 1)
        where = str(self.spool.directory)
        if unexpected:
            _log.error(f"{self._kind} drain failed; retrying", spool=where, exc_info=exc)
        else:
            _log.warning(f"{self._kind} drain waiting for the store", spool=where, error=str(exc))

    def _recovered(self) -> None:
        if self._outage is None:
            return
        since, failures = self._outage
        self._outage = None
        _log.info(
            f"{self._kind} drain resumed",
            spool=str(self.spool.directory),
            failures=failures,
            seconds=round(time.monotonic() - since, 3),
        )


def _made_at(record: object) -> float | None:
    """A record's `at` (usage and audit records carry one; an audit spool's entry is a tuple
    whose first member is its audit record) as epoch seconds."""
    if isinstance(record, tuple) and record:
        record = record[0]
    at = record.get("at") if isinstance(record, Mapping) else None
    return at.timestamp() if isinstance(at, datetime) else None


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Until `event` is set or `seconds` pass, whichever comes first."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        pass
