"""Redis limiters on the test's Redis, closed at teardown; a settable server clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from giru.limits import RedisLimiter
from giru.settings import LimitsSettings

__all__ = ["MakeLimiter", "ServerClock"]

START_US = 1_700_000_000 * 10**6  # a realistic TIME magnitude: the Lua arithmetic must be exact

MakeLimiter = Callable[..., RedisLimiter]


class ServerClock:
    """Stands in for Redis TIME (µs), so GCRA tables run exactly."""

    def __init__(self) -> None:
        self.us = START_US

    def __call__(self) -> int:
        return self.us

    def at_ms(self, ms: int) -> None:
        self.us = START_US + ms * 1000


@pytest.fixture
async def make_limiter(redis_url: str) -> AsyncIterator[MakeLimiter]:
    """`make_limiter(settings=None, url=None, **keywords)`: a RedisLimiter on the test's Redis
    with fresh metrics (`limiter.metrics`); all are closed at teardown."""
    limiters: list[RedisLimiter] = []

    def open_(
        settings: LimitsSettings | None = None, url: str | None = None, **keywords: Any
    ) -> RedisLimiter:
        limiter = RedisLimiter(url or redis_url, settings or LimitsSettings(), **keywords)
        limiters.append(limiter)
        return limiter

    try:
        yield open_
    finally:
        for limiter in limiters:
            await limiter.aclose()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, socket_timeout=5, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A TCP port that accepts connections and never answers (a hung Redis)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()
