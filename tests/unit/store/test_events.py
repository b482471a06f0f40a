"""LocalChangeBus and Subscription: revisions as hints, coalesced, with RESYNC first."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from giru.store.events import (
    RESYNC,
    LocalChangeBus,
    RedisChangeBus,
    Subscription,
    open_change_bus,
)

WAIT = 5.0  # bound on every wait; never reached when the code is right


async def next_value(subscription: Subscription) -> int:
    async with asyncio.timeout(WAIT):
        return await anext(subscription)


async def test_first_value_of_a_subscription_is_resync() -> None:
    bus = LocalChangeBus()
    try:
        assert await next_value(bus.subscribe()) == RESYNC
    finally:
        await bus.aclose()


async def test_publish_reaches_every_subscription() -> None:
    bus = LocalChangeBus()
    try:
        subscriptions = [bus.subscribe(), bus.subscribe()]
        for subscription in subscriptions:
            assert await next_value(subscription) == RESYNC
        await bus.publish(3)
        assert [await next_value(s) for s in subscriptions] == [3, 3]
    finally:
        await bus.aclose()


async def test_publish_wakes_a_waiting_consumer() -> None:
    bus = LocalChangeBus()
    try:
        subscription = bus.subscribe()
        assert await next_value(subscription) == RESYNC
        blocked = asyncio.Event()

        async def consume() -> int:
            blocked.set()  # runs on into anext() and blocks there before main resumes
            return await next_value(subscription)

        async with asyncio.TaskGroup() as group:
            waiting = group.create_task(consume())
            await blocked.wait()
            assert not waiting.done()
            await bus.publish(9)
        assert waiting.result() == 9
    finally:
        await bus.aclose()


async def test_a_slow_consumer_sees_only_the_newest_revision() -> None:
    bus = LocalChangeBus()
    try:
        subscription = bus.subscribe()
        assert await next_value(subscription) == RESYNC
        for revision in (3, 5, 4):
            await bus.publish(revision)
        assert await next_value(subscription) == 5
        await bus.publish(6)
        assert await next_value(subscription) == 6
    finally:
        await bus.aclose()


@pytest.mark.parametrize(
    ("offers", "expected"),
    [
        ([RESYNC, 4], RESYNC),  # a pending resync covers everything after it
        ([4, RESYNC], RESYNC),
        ([4, 2], 4),
        ([2, 4], 4),
        ([0], 0),
    ],
)
async def test_subscription_keeps_one_pending_value(offers: list[int], expected: int) -> None:
    subscription = Subscription(lambda _: None)
    for revision in offers:
        subscription.offer(revision)
    assert await next_value(subscription) == expected


async def test_closing_the_bus_ends_every_subscription() -> None:
    bus = LocalChangeBus()
    subscription = bus.subscribe()
    assert await next_value(subscription) == RESYNC
    blocked = asyncio.Event()
    seen: list[int] = []

    async def consume() -> None:
        blocked.set()
        async for revision in subscription:
            seen.append(revision)

    async with asyncio.timeout(WAIT), asyncio.TaskGroup() as group:
        group.create_task(consume())
        await blocked.wait()
        await bus.aclose()
    assert seen == []
    await bus.aclose()  # idempotent


async def test_a_closed_subscription_receives_nothing_more() -> None:
    bus = LocalChangeBus()
    try:
        async with bus.subscribe() as subscription:
            assert await next_value(subscription) == RESYNC
        await bus.publish(2)
        with pytest.raises(StopAsyncIteration):
            await next_value(subscription)
        other = bus.subscribe()
        assert await next_value(other) == RESYNC
        await bus.publish(3)
        assert await next_value(other) == 3
    finally:
        await bus.aclose()


async def test_a_closed_bus_refuses_subscriptions_and_ignores_publishes() -> None:
    bus = LocalChangeBus()
    await bus.aclose()
    await bus.publish(1)
    with pytest.raises(RuntimeError, match="closed"):
        bus.subscribe()


async def test_negative_revisions_are_refused() -> None:
    bus = LocalChangeBus()
    try:
        with pytest.raises(ValueError, match=">= 0"):
            await bus.publish(RESYNC)
    finally:
        await bus.aclose()


async def test_open_change_bus_is_local_without_a_redis_url() -> None:
    for url in (None, ""):
        bus = open_change_bus(url)
        assert isinstance(bus, LocalChangeBus)
        await bus.aclose()
    bus = open_change_bus("redis://127.0.0.1:1/0")  # connects lazily: nothing listens there
    assert isinstance(bus, RedisChangeBus)
    await bus.aclose()


async def test_a_failed_redis_publish_is_logged_without_credentials_and_not_raised() -> None:
    bus = RedisChangeBus("redis://:s3cret@127.0.0.1:1/0", timeout=1.0)  # port 1: refused
    try:
        with capture_logs() as logs:
            await bus.publish(5)
    finally:
        await bus.aclose()
    [entry] = [e for e in logs if e["event"] == "config change not published"]
    assert entry["redis"] == "redis://127.0.0.1:1/0"
    assert entry["revision"] == 5
    assert "s3cret" not in repr(logs)
