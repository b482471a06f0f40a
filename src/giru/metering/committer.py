"""`Committer`: runs the spools' commits (a write and an `fdatasync`) in a worker thread, the
commits of every spool sharing it that were submitted in one event-loop turn in one hop.

A call's usage record and its audit record go to two spools whose commit loops wake in the same
turn; sharing a committer makes that one hand-off to a thread (and one wake-up of the loop when
both are durable) instead of two. One hop is in flight at a time: commits submitted meanwhile go
in the next one, as a spool's own appends do. Each commit still has its own outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial

__all__ = ["Committer"]

Job = Callable[[], None]


class Committer:
    """Hands blocking commits to a worker thread in batches; use from one event loop."""

    def __init__(self) -> None:
        self._pending: list[tuple[Job, asyncio.Future[None]]] = []
        self._busy = False

    async def run(self, job: Job) -> None:
        """Return once `job` ran in the worker thread; raise what it raised. Cancelling the
        caller does not stop a job once taken."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._pending.append((job, done))
        if not self._busy:
            self._busy = True
            loop.call_soon(self._send, loop)  # after the other tasks woken in this turn
        await done

    def _send(self, loop: asyncio.AbstractEventLoop) -> None:
        jobs, self._pending = self._pending, []
        try:
            hop = loop.run_in_executor(None, _run_all, [job for job, _ in jobs])
        except RuntimeError as exc:  # the executor is shut down
            self._busy = False
            _settle(jobs, [exc] * len(jobs))
            return
        hop.add_done_callback(partial(self._landed, loop, jobs))

    def _landed(
        self,
        loop: asyncio.AbstractEventLoop,
        jobs: list[tuple[Job, asyncio.Future[None]]],
        hop: asyncio.Future[list[Exception | None]],
    ) -> None:
        outcomes: list[BaseException | None]
        try:
            outcomes = list(hop.result())
        except BaseException as exc:  # noqa: BLE001 -- the hop itself failed: every caller hears it
            outcomes = [exc] * len(jobs)
        _settle(jobs, outcomes)
        if self._pending:
            self._send(loop)
        else:
            self._busy = False


def _settle(
    jobs: list[tuple[Job, asyncio.Future[None]]], outcomes: list[BaseException | None]
) -> None:
    for (_, done), error in zip(jobs, outcomes, strict=True):
        if done.done():  # its caller was cancelled: the job ran all the same
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


def _run_all(jobs: list[Job]) -> list[Exception | None]:
    """(worker thread) Every job in order; what each raised (None: it returned)."""
    outcomes: list[Exception | None] = []
    for job in jobs:
        try:
            job()
        except Exception as exc:  # noqa: BLE001 -- handed to the job's caller
            outcomes.append(exc)
        else:
            outcomes.append(None)
    return outcomes
