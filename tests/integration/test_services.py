"""The PostgreSQL and Redis fixtures start real servers, isolate tests, and survive restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from tests.services import PostgresServer, RedisServer

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(postgres_url, poolclass=NullPool, connect_args={"timeout": 10})
    try:
        yield engine
    finally:
        await engine.dispose()


async def _scalar(engine: AsyncEngine, query: str) -> object:
    async with engine.connect() as conn:
        return (await conn.execute(text(query))).scalar_one()


async def test_postgres_url_is_a_fresh_database_on_postgresql_15(
    postgres_url: str, engine: AsyncEngine
) -> None:
    assert postgres_url.startswith("postgresql+asyncpg://giru@127.0.0.1:")
    version = await _scalar(engine, "SHOW server_version_num")
    assert isinstance(version, str)
    assert int(version) >= 150000
    tables = await _scalar(engine, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    assert tables == 0


async def test_postgres_url_is_writable_by_the_superuser(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id int PRIMARY KEY, name text)"))
        await conn.execute(text("INSERT INTO t VALUES (1, 'one')"))
    assert await _scalar(engine, "SELECT name FROM t WHERE id = 1") == "one"
    assert await _scalar(engine, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")


def test_each_test_gets_its_own_database(postgres_server: PostgresServer) -> None:
    first = postgres_server.create_database()
    second = postgres_server.create_database()
    try:
        assert first != second
    finally:
        postgres_server.drop_database(first)
        postgres_server.drop_database(second)


async def test_postgres_crashes_and_starts_again_with_its_committed_data(
    postgres_server: PostgresServer, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE kept (v int)"))
        await conn.execute(text("INSERT INTO kept VALUES (42)"))

    postgres_server.stop(mode="immediate")
    assert not postgres_server.running
    with pytest.raises(ConnectionRefusedError):
        await _scalar(engine, "SELECT 1")

    postgres_server.start()
    assert postgres_server.running
    assert await _scalar(engine, "SELECT v FROM kept") == 42


async def test_redis_url_round_trip(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=5)
    try:
        await client.set("giru:test:key", "value")
        assert await client.get("giru:test:key") == b"value"
    finally:
        await client.aclose()


async def test_redis_url_starts_flushed(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=5)
    try:
        assert await client.dbsize() == 0
    finally:
        await client.aclose()


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
async def test_redis_stops_and_starts_again_on_the_same_port(
    redis_server: RedisServer, redis_url: str, kill: bool
) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=5)
    try:
        assert await client.ping()
        redis_server.stop(kill=kill)
        assert not redis_server.running
        with pytest.raises(redis.ConnectionError):
            await client.ping()

        redis_server.start()
        assert redis_server.url() == redis_url
        assert await client.ping()
    finally:
        await client.aclose()


def test_redis_url_restarts_a_server_left_stopped(redis_server: RedisServer) -> None:
    redis_server.stop()
    assert not redis_server.running
    # What the redis_url fixture does for the next test:
    redis_server.start()
    redis_server.flush()
    assert redis_server.running
