"""ConnectionNotices against a real Redis: a notice reaches the other workers, not its sender,
and a worker whose subscription (re)connects drops every connection it holds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from giru.credentials.connections import ConnectionNotices
from tests.services import RedisServer

pytestmark = pytest.mark.integration

WAIT = 10.0  # bound on every wait; a reconnect takes at most max_backoff + a connect


class Heard:
    """What a worker was told: connection secret names, None for "drop every one"."""

    def __init__(self) -> None:
        self.items: list[str | None] = []
        self._changed = asyncio.Event()

    def __call__(self, name: str | None) -> None:
        self.items.append(name)
        self._changed.set()

    async def until(self, done: Callable[[list[str | None]], bool]) -> None:
        async with asyncio.timeout(WAIT):
            while not done(self.items):
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def workers(redis_url: str) -> AsyncIterator[list[tuple[ConnectionNotices, Heard]]]:
    """Two workers' notices, listening (each has been told once to drop everything)."""
    opened = []
    for _ in range(2):
        notices = ConnectionNotices(redis_url, timeout_s=1.0, max_backoff_s=0.2)
        heard = Heard()
        notices.start(heard)
        opened.append((notices, heard))
    try:
        for _, heard in opened:
            await heard.until(lambda items: items == [None])
        yield opened
    finally:
        for notices, _ in opened:
            await notices.aclose()


async def test_a_notice_reaches_the_other_worker_and_not_its_sender(
    workers: list[tuple[ConnectionNotices, Heard]],
) -> None:
    (a, heard_a), (b, heard_b) = workers
    await a.publish("conn.files.0123abcd")
    await heard_b.until(lambda items: items == [None, "conn.files.0123abcd"])
    await b.publish("conn.files.4567ef01")
    await heard_a.until(lambda items: len(items) > 1)
    assert heard_a.items == [None, "conn.files.4567ef01"]  # its own came first, and was not heard
    assert heard_b.items == [None, "conn.files.0123abcd"]


async def test_after_redis_comes_back_every_worker_drops_every_connection(
    redis_server: RedisServer, workers: list[tuple[ConnectionNotices, Heard]]
) -> None:
    (a, heard_a), (_, heard_b) = workers
    redis_server.stop()
    try:
        await a.publish("conn.files.0123abcd")  # lost, and logged, not raised
    finally:
        redis_server.start()
    await heard_b.until(lambda items: items.count(None) >= 3)  # lost Redis, listening again
    async with asyncio.timeout(WAIT):  # publish until b has subscribed again and hears it
        while "conn.files.89abcdef" not in heard_b.items:
            await a.publish("conn.files.89abcdef")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    await heard_b.until(lambda items: "conn.files.89abcdef" in items)
    assert "conn.files.0123abcd" not in heard_b.items
    assert set(heard_a.items) == {None}
