"""Breaker transitions published off the call path: newest news per server, retried on failure,
this worker's reports forgotten when it starts and when it stops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from giru.errors import StoreUnavailableError
from giru.proxy.breaker import BreakerChange
from giru.proxy.breaker_reports import BreakerReports
from giru.store.breakers import BreakerReport

_AT = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)


class _Sink:
    def __init__(self, failures: int = 0) -> None:
        self.news: Callable[[], None] = lambda: None
        """What happens while a write fails (newer news arrives)."""
        self.written: list[list[BreakerReport]] = []
        self.forgotten = 0
        self.failures = failures
        self.wrote = asyncio.Event()

    async def record(self, reports: Sequence[BreakerReport]) -> None:
        if self.failures:
            self.failures -= 1
            self.news()
            raise StoreUnavailableError("the database is unavailable")
        self.written.append(list(reports))
        self.wrote.set()

    async def forget(self) -> None:
        self.forgotten += 1


def _change(server: str, state: str, minutes: int = 0) -> BreakerChange:
    until = _AT + timedelta(seconds=10) if state == "open" else None
    return BreakerChange(server, state, _AT + timedelta(minutes=minutes), until, "upstream_timeout")  # type: ignore[arg-type]


async def test_the_newest_change_of_each_server_is_written_and_forgotten_at_the_end() -> None:
    sink = _Sink()
    reports = BreakerReports(sink)
    reports.offer(_change("crm", "open"))
    reports.offer(_change("crm", "half-open", 1))
    reports.offer(_change("wiki", "open"))
    async with asyncio.timeout(5), asyncio.TaskGroup() as tasks:
        task = tasks.create_task(reports.run())
        await sink.wrote.wait()
        task.cancel()
    assert [(r.server, r.state) for r in sink.written[0]] == [
        ("crm", "half-open"),
        ("wiki", "open"),
    ]
    assert sink.forgotten == 2  # at the start (a restart's old rows) and at the end


async def test_a_failed_write_is_retried_with_the_newer_news() -> None:
    sink = _Sink(failures=1)
    reports = BreakerReports(sink, retry_s=0.0)
    reports.offer(_change("crm", "open"))
    sink.news = lambda: reports.offer(_change("crm", "closed", 2))
    async with asyncio.timeout(5), asyncio.TaskGroup() as tasks:
        task = tasks.create_task(reports.run())
        await sink.wrote.wait()
        task.cancel()
    assert [(r.server, r.state) for r in sink.written[0]] == [("crm", "closed")]
