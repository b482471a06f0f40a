"""Config change notification between gateway workers: "the store is at revision N now".

A revision is a hint to reread the store, not a log entry: a subscription holds at most one
pending value (the newest), may see a revision twice or out of order, and sees `RESYNC` whenever
notifications may have been missed. Every subscription's first value is `RESYNC`, delivered once
the bus is listening, so a consumer reads the store after that and misses nothing:

    async with bus.subscribe() as changes:
        async for revision in changes:
            if revision == RESYNC or revision > loaded:
                loaded = await reload_from_store()

`LocalChangeBus` serves one process (embedded mode); `RedisChangeBus` spans workers through Redis
pub/sub. Neither raises into the publisher when delivery fails: the periodic store poll of the
consumer is the safety net.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from giru.store.pubsub import close_quietly, receive, subscribe

__all__ = [
    "CHANNEL",
    "RESYNC",
    "ChangeBus",
    "LocalChangeBus",
    "RedisChangeBus",
    "Subscription",
    "open_change_bus",
]

_log = structlog.get_logger(__name__)

RESYNC: Final = -1
"""Sentinel revision: notifications may have been missed (first value, reconnect); reread."""

CHANNEL: Final = "giru:events:config"
"""Redis pub/sub channel; each message is a revision in decimal ASCII."""


class Subscription:
    """One consumer's view of a bus: an async iterator of revisions, ended by `aclose()` (or the
    bus closing). Holds one pending value, so a slow consumer never builds a backlog."""

    def __init__(self, on_close: Callable[[Subscription], None]) -> None:
        self._on_close = on_close
        self._pending: int | None = None
        self._wakeup = asyncio.Event()
        self._closed = False

    def offer(self, revision: int) -> None:
        """Makes `revision` the next value: a pending `RESYNC` is kept (it covers everything), a
        newer revision replaces an older one."""
        pending = self._pending
        if pending == RESYNC:
            return
        if pending is None or revision == RESYNC or revision > pending:
            self._pending = revision
            self._wakeup.set()

    def end(self) -> None:
        """Ends the iteration (the bus closed); it does not unregister."""
        self._closed = True
        self._wakeup.set()

    async def aclose(self) -> None:
        if not self._closed:
            self.end()
            self._on_close(self)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> int:
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._pending is not None:
                revision, self._pending = self._pending, None
                return revision
            self._wakeup.clear()
            await self._wakeup.wait()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class ChangeBus(Protocol):
    """Tells every gateway worker that the config store changed."""

    async def publish(self, revision: int) -> None:
        """Announces `revision` (>= 0) to every subscription of every bus on the channel,
        including this one's; never raises on delivery failure (it is logged)."""
        ...

    def subscribe(self) -> Subscription:
        """A new subscription (call from the event loop); its first value is `RESYNC`."""
        ...

    async def aclose(self) -> None:
        """Ends every subscription and releases connections and tasks. Idempotent."""
        ...


class _Subscribers:
    """The live subscriptions of one bus."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def add(self, *, first: int | None) -> Subscription:
        subscription = Subscription(self._subscriptions.discard)
        if first is not None:
            subscription.offer(first)
        self._subscriptions.add(subscription)
        return subscription

    def offer(self, revision: int) -> None:
        for subscription in self._subscriptions:
            subscription.offer(revision)

    def end_all(self) -> None:
        for subscription in self._subscriptions:
            subscription.end()
        self._subscriptions.clear()


def _check_revision(revision: int) -> None:
    if revision < 0:
        raise ValueError(f"revision must be >= 0, got {revision}")


class LocalChangeBus:
    """In-process bus (embedded mode: one process is every worker)."""

    def __init__(self) -> None:
        self._subscribers = _Subscribers()
        self._closed = False

    async def publish(self, revision: int) -> None:
        _check_revision(revision)
        if not self._closed:
            self._subscribers.offer(revision)

    def subscribe(self) -> Subscription:
        if self._closed:
            raise RuntimeError("the change bus is closed")
        return self._subscribers.add(first=RESYNC)

    async def aclose(self) -> None:
        self._closed = True
        self._subscribers.end_all()


class RedisChangeBus:
    """Bus over Redis pub/sub (`CHANNEL`), for several workers sharing one store.

    Publishing uses a pooled client; the first `subscribe()` starts a listener task owned by the
    bus, which reconnects with bounded exponential backoff when Redis goes away (logging once per
    outage), offers `RESYNC` after each (re)connect, and pings an idle connection every
    `heartbeat` seconds to notice a silent peer. Every socket operation has a timeout.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str = CHANNEL,
        timeout: float = 5.0,
        heartbeat: float = 10.0,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
    ) -> None:
        self._url = url
        self._where = _without_credentials(url)  # what logs show
        self._channel = channel
        self._timeout = timeout
        self._heartbeat = heartbeat
        self._backoff = (min_backoff, max_backoff)
        # One immediate retry: a pooled connection broken by a Redis restart fails once.
        self._publisher = self._client(Retry(NoBackoff(), 1))
        self._subscribers = _Subscribers()
        self._listener: asyncio.Task[None] | None = None
        self._connected = False
        self._closed = False

    def _client(self, retry: Retry) -> Redis:
        return Redis.from_url(
            self._url,
            socket_timeout=self._timeout,
            socket_connect_timeout=self._timeout,
            retry=retry,
        )

    async def publish(self, revision: int) -> None:
        _check_revision(revision)
        if self._closed:
            return
        self._subscribers.offer(revision)  # this worker's own consumers need no round trip
        try:
            async with asyncio.timeout(2 * self._timeout):
                await self._publisher.publish(self._channel, str(revision))
        except (RedisError, OSError) as exc:  # TimeoutError is an OSError
            _log.warning(
                "config change not published", revision=revision, error=repr(exc), redis=self._where
            )

    def subscribe(self) -> Subscription:
        if self._closed:
            raise RuntimeError("the change bus is closed")
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(
                self._listen(), name="giru-change-bus-listener"
            )
        return self._subscribers.add(first=RESYNC if self._connected else None)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._subscribers.end_all()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            await asyncio.wait([listener])  # propagates our own cancellation, not its
        await self._publisher.aclose()

    async def _listen(self) -> None:
        """Runs until cancelled: connect, listen, and after a failure back off and reconnect."""
        failures = 0
        outage_since: float | None = None
        while True:
            try:
                await self._listen_once(outage_since)
            except (RedisError, OSError) as exc:
                error: BaseException = exc
            except Exception as exc:  # noqa: BLE001 -- the loop boundary: a bug must not end it
                _log.exception("config change listener failed", redis=self._where)
                error = exc
            if self._connected:  # it was up: a new outage starts
                self._connected = False
                outage_since = None
                failures = 0
            if outage_since is None:
                outage_since = asyncio.get_running_loop().time()
                _log.warning(
                    "config change bus lost redis; reconnecting",
                    error=repr(error),
                    redis=self._where,
                )
            else:
                failures += 1
            await asyncio.sleep(self._delay(failures))

    async def _listen_once(self, outage_since: float | None) -> None:
        client = self._client(Retry(NoBackoff(), 0))  # failures surface here, not retried inside
        pubsub = client.pubsub()
        try:
            await subscribe(pubsub, self._channel, timeout_s=self._timeout)
            self._on_connected(outage_since)
            await receive(pubsub, self._deliver, heartbeat_s=self._heartbeat)
        finally:
            await close_quietly(pubsub, client, timeout_s=self._timeout)

    def _on_connected(self, outage_since: float | None) -> None:
        self._connected = True
        if outage_since is None:
            _log.info("config change bus listening", channel=self._channel, redis=self._where)
        else:
            outage = asyncio.get_running_loop().time() - outage_since
            _log.info("config change bus reconnected to redis", outage_s=round(outage, 3))
        self._subscribers.offer(RESYNC)

    def _deliver(self, data: Any) -> None:
        try:
            revision = int(data)
        except (TypeError, ValueError):
            revision = -1
        if revision < 0:
            _log.warning("ignored a malformed config change message", data=repr(data)[:100])
            return
        self._subscribers.offer(revision)

    def _delay(self, failures: int) -> float:
        low, high = self._backoff
        delay = min(high, low * 2.0 ** min(failures, 30))
        return delay * random.uniform(0.5, 1.0)  # noqa: S311 -- jitter, not cryptography


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def open_change_bus(redis_url: str | None) -> ChangeBus:
    """`RedisChangeBus` on `redis_url`, or a `LocalChangeBus` without one."""
    if redis_url:
        return RedisChangeBus(redis_url)
    return LocalChangeBus()
