"""`Committer`: a thread of its own running a spool's commits (a write and an `fdatasync`), in
the order given.

Cheaper per commit than `asyncio.to_thread`: a queue and one callback back to the loop instead
of an executor's work item, its future and the asyncio future chained to it. The thread ends
after `_IDLE_S` without work and starts again with the next commit.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Final

__all__ = ["Committer"]

Job = Callable[[], None]
_Taken = tuple[asyncio.AbstractEventLoop, Job, asyncio.Future[None]]
_IDLE_S: Final = 10.0


class Committer:
    """Runs blocking jobs in its thread, one at a time in order."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Taken] = queue.SimpleQueue()
        self._lock = threading.Lock()  # whether the thread runs, against its ending when idle
        self._thread: threading.Thread | None = None

    async def run(self, job: Job) -> None:
        """Return once `job` ran in the committer's thread; raise what it raised. Cancelling
        the caller does not stop a job once taken."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._work, name="giru-spool", daemon=True)
                thread.start()
                self._thread = thread
            self._jobs.put((loop, job, done))
        await done

    def _work(self) -> None:
        """(the committer's thread) Run each job and hand its outcome to the loop; end when
        idle."""
        while True:
            try:
                loop, job, done = self._jobs.get(timeout=_IDLE_S)
            except queue.Empty:
                with self._lock:
                    if self._jobs.empty():
                        self._thread = None
                        return
                continue
            outcome: BaseException | None = None
            try:
                job()
            except BaseException as exc:  # noqa: BLE001 -- handed to the job's caller
                outcome = exc
            try:
                loop.call_soon_threadsafe(_settle, done, outcome)
            except RuntimeError:  # the loop is closed: nobody waits for it any more
                continue


def _settle(done: asyncio.Future[None], outcome: BaseException | None) -> None:
    if done.done():  # its caller was cancelled: the job ran all the same
        return
    if outcome is None:
        done.set_result(None)
    else:
        done.set_exception(outcome)
