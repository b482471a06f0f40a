"""The committer: a spool's commits in a thread of its own, in order, each with its outcome."""

from __future__ import annotations

import asyncio
import threading
from functools import partial

from giru.metering import Committer

WAIT = 5.0


async def test_jobs_run_in_the_order_given_off_the_event_loop_thread() -> None:
    ran: list[str] = []
    threads: set[int] = set()
    committer = Committer()

    def job(name: str) -> None:
        threads.add(threading.get_ident())
        ran.append(name)

    async with asyncio.timeout(WAIT):
        await asyncio.gather(*(committer.run(partial(job, n)) for n in "abc"))
    assert ran == ["a", "b", "c"]
    assert len(threads) == 1
    assert threading.get_ident() not in threads


async def test_a_failing_job_fails_only_its_caller() -> None:
    def failing() -> None:
        raise OSError(5, "Input/output error")

    ran: list[str] = []
    committer = Committer()
    async with asyncio.timeout(WAIT):
        outcomes = await asyncio.gather(
            committer.run(failing),
            committer.run(partial(ran.append, "after")),
            return_exceptions=True,
        )
    assert isinstance(outcomes[0], OSError)
    assert outcomes[1] is None
    assert ran == ["after"]


async def test_a_cancelled_caller_s_job_runs_all_the_same() -> None:
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
        await committer.run(partial(ran.append, "next"))
    assert cancelled.cancelled()
    assert ran == ["slow", "next"]
