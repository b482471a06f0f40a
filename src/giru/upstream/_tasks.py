"""A small owned set of background tasks: every task is cancelled and awaited by `aclose()`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import structlog

__all__ = ["TaskSet"]

_log = structlog.get_logger(__name__)


class TaskSet:
    """Tracks the tasks a connector starts; nothing outlives `aclose()`.

    A TaskGroup cannot be used here because a session is opened in one task and closed in another.
    """

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        if self._closed:
            coro.close()
            raise RuntimeError("task set is closed")
        # Owned: kept in self._tasks and cancelled + awaited in aclose().
        task = asyncio.create_task(coro, name=f"{self._owner}:{name}")  # noqa: TID251
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            _log.error(
                "upstream task failed", owner=self._owner, task=task.get_name(), exc_info=exc
            )

    async def aclose(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 -- a grace period
        """Cancel every task and wait (bounded) for all of them to finish."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                _log.error("upstream task ignored cancellation", task=task.get_name())

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._tasks)
