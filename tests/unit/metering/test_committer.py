"""The committer: spools' commits in a worker thread, those of one event-loop turn in one hop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from giru.audit.records import AUDIT_CODEC
from giru.metering import Committer, Spool
from tests.unit.audit.data import record as audit_record
from tests.unit.metering.data import record

WAIT = 5.0


class CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor, counting the hand-offs to its threads."""

    def __init__(self) -> None:
        super().__init__(max_workers=4)
        self.hops = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.hops += 1
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
async def executor() -> AsyncIterator[CountingExecutor]:
    counting = CountingExecutor()
    asyncio.get_running_loop().set_default_executor(counting)
    yield counting
    counting.shutdown(wait=True)


async def test_commits_of_one_turn_share_one_hop_and_run_in_order(
    executor: CountingExecutor,
) -> None:
    ran: list[str] = []
    committer = Committer()
    async with asyncio.timeout(WAIT):
        await asyncio.gather(*(committer.run(partial(ran.append, n)) for n in "abc"))
    assert ran == ["a", "b", "c"]
    assert executor.hops == 1


async def test_a_failing_commit_fails_only_its_caller(executor: CountingExecutor) -> None:
    def failing() -> None:
        raise OSError(5, "Input/output error")

    ran: list[str] = []
    committer = Committer()
    async with asyncio.timeout(WAIT):
        outcomes = await asyncio.gather(
            committer.run(failing),
            committer.run(lambda: ran.append("after")),
            return_exceptions=True,
        )
    assert isinstance(outcomes[0], OSError)
    assert outcomes[1] is None
    assert ran == ["after"]


async def test_commits_made_during_a_hop_go_together_in_the_next(
    executor: CountingExecutor,
) -> None:
    release = threading.Event()
    ran: list[str] = []
    committer = Committer()

    def first() -> None:
        release.wait(WAIT)
        ran.append("first")

    async with asyncio.timeout(WAIT), asyncio.TaskGroup() as group:
        group.create_task(committer.run(first))
        await asyncio.sleep(0)  # the first hop is under way
        for name in "xy":
            group.create_task(committer.run(partial(ran.append, name)))
        await asyncio.sleep(0)
        release.set()
    assert ran == ["first", "x", "y"]
    assert executor.hops == 2


async def test_a_cancelled_caller_s_commit_runs_all_the_same(executor: CountingExecutor) -> None:
    release = threading.Event()
    ran: list[str] = []
    committer = Committer()

    def slow() -> None:
        release.wait(WAIT)
        ran.append("slow")

    async with asyncio.timeout(WAIT), asyncio.TaskGroup() as group:
        cancelled = group.create_task(committer.run(slow))
        await asyncio.sleep(0)
        cancelled.cancel()
        release.set()
        await committer.run(lambda: ran.append("next"))
    assert cancelled.cancelled()
    assert ran == ["slow", "next"]


async def test_a_call_s_usage_and_audit_records_share_one_thread_hop(
    tmp_path: Path, executor: CountingExecutor
) -> None:
    usage = await Spool.open(tmp_path / "usage", group_commit_ms=0)
    audit = await Spool.open(
        tmp_path / "audit", group_commit_ms=0, codec=AUDIT_CODEC, committer=usage.committer
    )
    try:
        async with asyncio.timeout(WAIT):
            await asyncio.gather(usage.append(record()), audit.append(audit_record()))  # segments
            before = executor.hops
            await asyncio.gather(usage.append(record()), audit.append(audit_record()))
        assert executor.hops - before == 1
        for spool in (usage, audit):
            await spool.seal()
            batch = await spool.next_batch()
            assert batch is not None
            assert len(batch.records) == 2
    finally:
        await usage.aclose()
        await audit.aclose()
