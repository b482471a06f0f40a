"""Listening on a Redis pub/sub channel, the part every listener shares: subscribe and wait
for Redis to confirm it, deliver messages until the connection fails (a ping unanswered for a
heartbeat interval counts as a failure), and close without raising. Reconnecting and backing
off stay with each listener: what a lost subscription means differs (a resync, a dropped cache).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

__all__ = ["close_quietly", "receive", "subscribe"]


async def subscribe(pubsub: PubSub, channel: str, *, timeout_s: float) -> None:
    """Subscribe to `channel` and return once Redis confirmed it (within twice `timeout_s`)."""
    async with asyncio.timeout(2 * timeout_s):
        await pubsub.subscribe(channel)
        while True:
            message = await pubsub.get_message(timeout=timeout_s)
            if message is not None and message["type"] == "subscribe":
                return


async def receive(pubsub: PubSub, deliver: Callable[[object], None], *, heartbeat_s: float) -> None:
    """Hand each message's data to `deliver` until the connection fails; raises then."""
    awaiting_pong = False
    while True:
        message = await pubsub.get_message(timeout=heartbeat_s)
        if message is None:
            if awaiting_pong:
                raise TimeoutError(f"redis did not answer a ping within {heartbeat_s}s")
            await pubsub.ping()
            awaiting_pong = True
            continue
        awaiting_pong = False
        if message["type"] == "message":
            deliver(message["data"])


async def close_quietly(pubsub: PubSub, client: Redis, *, timeout_s: float) -> None:
    """Close the subscription and its client, each within `timeout_s`, never raising."""
    with contextlib.suppress(RedisError, OSError):  # TimeoutError included
        async with asyncio.timeout(timeout_s):
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
    with contextlib.suppress(RedisError, OSError):
        async with asyncio.timeout(timeout_s):
            await client.aclose()
