"""RedisChangeBus against a real Redis: delivery between buses, outages, malformed messages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio
from structlog.testing import capture_logs

from giru.store.events import CHANNEL, RESYNC, RedisChangeBus, Subscription
from tests.services import RedisServer

pytestmark = pytest.mark.integration

WAIT = 10.0  # bound on every wait; a reconnect takes at most max_backoff + a connect


async def next_value(subscription: Subscription) -> int:
    async with asyncio.timeout(WAIT):
        return await anext(subscription)


@pytest.fixture
async def open_bus(redis_url: str) -> AsyncIterator[Callable[[], RedisChangeBus]]:
    """Opens buses on the test's Redis (fast backoff) and closes them all at teardown."""
    buses: list[RedisChangeBus] = []

    def open_() -> RedisChangeBus:
        bus = RedisChangeBus(redis_url, timeout=2.0, min_backoff=0.02, max_backoff=0.2)
        buses.append(bus)
        return bus

    try:
        yield open_
    finally:
        for bus in buses:
            await bus.aclose()


async def test_a_publish_reaches_a_subscriber_on_another_bus(
    open_bus: Callable[[], RedisChangeBus],
) -> None:
    publisher, listener = open_bus(), open_bus()
    subscription = listener.subscribe()
    assert await next_value(subscription) == RESYNC  # listening from here on
    await publisher.publish(7)
    assert await next_value(subscription) == 7
    await publisher.publish(8)
    assert await next_value(subscription) == 8


async def test_every_subscription_of_every_bus_receives_it(
    open_bus: Callable[[], RedisChangeBus],
) -> None:
    publisher = open_bus()
    subscriptions = [open_bus().subscribe(), open_bus().subscribe(), publisher.subscribe()]
    for subscription in subscriptions:
        assert await next_value(subscription) == RESYNC
    await publisher.publish(11)
    assert [await next_value(s) for s in subscriptions] == [11, 11, 11]


async def test_a_later_subscription_on_a_listening_bus_starts_with_resync(
    open_bus: Callable[[], RedisChangeBus],
) -> None:
    bus = open_bus()
    assert await next_value(bus.subscribe()) == RESYNC
    late = bus.subscribe()
    assert await next_value(late) == RESYNC
    await open_bus().publish(4)
    assert await next_value(late) == 4


async def test_the_wire_format_is_the_decimal_revision_on_the_config_channel(
    redis_url: str, open_bus: Callable[[], RedisChangeBus]
) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=5)
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(CHANNEL)
        async with asyncio.timeout(WAIT):
            while (await pubsub.get_message(timeout=WAIT)) is None:
                pass  # the subscribe confirmation
            await open_bus().publish(42)
            message = None
            while message is None:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=WAIT)
        assert message["channel"] == CHANNEL.encode()
        assert message["data"] == b"42"
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
        await client.aclose()


async def test_malformed_messages_are_ignored(
    redis_url: str, open_bus: Callable[[], RedisChangeBus]
) -> None:
    subscription = open_bus().subscribe()
    assert await next_value(subscription) == RESYNC
    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=5)
    try:
        with capture_logs() as logs:
            for junk in ("not-a-number", "-5", ""):
                await client.publish(CHANNEL, junk)
            await client.publish(CHANNEL, "5")
            assert await next_value(subscription) == 5
    finally:
        await client.aclose()
    ignored = [e for e in logs if e["event"] == "ignored a malformed config change message"]
    assert len(ignored) == 3


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
async def test_subscribers_resync_after_redis_restarts(
    redis_server: RedisServer, open_bus: Callable[[], RedisChangeBus], kill: bool
) -> None:
    publisher, listener = open_bus(), open_bus()
    subscription = listener.subscribe()
    assert await next_value(subscription) == RESYNC
    await publisher.publish(1)
    assert await next_value(subscription) == 1

    with capture_logs() as logs:
        redis_server.stop(kill=kill)
        await publisher.publish(2)  # Redis is down: logged, not raised
        redis_server.start()
        assert await next_value(subscription) == RESYNC  # reconnected: reread the store
        await publisher.publish(3)
        assert await next_value(subscription) == 3

    events = [entry["event"] for entry in logs]
    assert events.count("config change not published") == 1
    assert events.count("config change bus lost redis; reconnecting") == 1  # once per outage
    assert events.count("config change bus reconnected to redis") == 1


async def test_a_publish_while_redis_is_down_still_reaches_the_own_subscribers(
    redis_server: RedisServer, open_bus: Callable[[], RedisChangeBus]
) -> None:
    bus = open_bus()
    subscription = bus.subscribe()
    assert await next_value(subscription) == RESYNC
    redis_server.stop()
    try:
        await bus.publish(6)
        assert await next_value(subscription) == 6
    finally:
        redis_server.start()


async def test_a_bus_started_while_redis_is_down_connects_when_it_comes_up(
    redis_server: RedisServer, open_bus: Callable[[], RedisChangeBus]
) -> None:
    redis_server.stop()
    try:
        listener = open_bus()
        subscription = listener.subscribe()
        blocked = asyncio.Event()

        async def first() -> int:
            blocked.set()
            return await next_value(subscription)

        async with asyncio.TaskGroup() as group:
            waiting = group.create_task(first())
            await blocked.wait()
            assert not waiting.done()
            redis_server.start()
        assert waiting.result() == RESYNC
    finally:
        redis_server.start()
    await open_bus().publish(12)
    assert await next_value(subscription) == 12


async def test_closing_the_bus_ends_its_subscriptions(
    open_bus: Callable[[], RedisChangeBus],
) -> None:
    bus = open_bus()
    subscription = bus.subscribe()
    assert await next_value(subscription) == RESYNC
    await bus.aclose()
    with pytest.raises(StopAsyncIteration):
        await next_value(subscription)
    await bus.publish(1)  # ignored after close


async def _wait_for_idle_ping(redis_url: str) -> None:
    """Polls CLIENT LIST (bounded) until a subscribed connection's last command is PING."""
    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=5, decode_responses=True)
    try:
        async with asyncio.timeout(WAIT):
            while True:
                clients = await client.client_list()
                if any(int(c.get("sub", 0)) > 0 and c.get("cmd") == "ping" for c in clients):
                    return
                await asyncio.sleep(0.02)  # poll interval of a bounded wait
    finally:
        await client.aclose()


async def test_an_idle_connection_is_pinged_and_stays_up(redis_url: str) -> None:
    bus = RedisChangeBus(redis_url, timeout=2.0, heartbeat=0.05, max_backoff=0.2)
    try:
        subscription = bus.subscribe()
        assert await next_value(subscription) == RESYNC
        with capture_logs() as logs:
            await _wait_for_idle_ping(redis_url)
            await bus.publish(3)
            assert await next_value(subscription) == 3
        assert not [e for e in logs if e["log_level"] == "warning"]
    finally:
        await bus.aclose()


async def test_a_silent_redis_counts_as_an_outage(redis_url: str) -> None:
    listener = RedisChangeBus(redis_url, timeout=0.3, heartbeat=0.1, max_backoff=0.2)
    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=5)
    try:
        subscription = listener.subscribe()
        assert await next_value(subscription) == RESYNC
        with capture_logs() as logs:
            await client.client_pause(1000, all=True)  # connected, but answers nothing for 1 s
            assert await next_value(subscription) == RESYNC  # detected, reconnected afterwards
        lost = [e for e in logs if e["event"] == "config change bus lost redis; reconnecting"]
        assert len(lost) == 1
        assert "did not answer a ping" in lost[0]["error"]
        events = [entry["event"] for entry in logs]
        assert events.count("config change bus reconnected to redis") == 1
    finally:
        await client.aclose()
        await listener.aclose()
