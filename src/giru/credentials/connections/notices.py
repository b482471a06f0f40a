"""`ConnectionNotices`: "connection NAME changed", told to every worker over Redis pub/sub.

A worker that keeps or forgets a connection's tokens (connect, reconnect, refresh, a refused
refresh, step-up, disconnect) publishes the connection's secret name (`conn.<server>.<digest>`:
neither the person nor a token) on `giru:events:connections`; every other worker drops what it
cached of that connection at once, so its next call reads the kept tokens again (the new ones,
or none: the person is asked to connect). A call pays nothing for this: the cache is dropped
when the notice arrives, not checked per call. A worker ignores its own notices (it changed its
cache itself). Whenever the subscription (re)connects, notices may have been missed: every
cached connection token is dropped. A notice that cannot be published is logged; the other
workers then keep the tokens they hold until they expire or the upstream refuses them.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Callable
from typing import Final

import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from giru.store.pubsub import close_quietly, receive, subscribe

__all__ = ["CHANNEL", "ConnectionNotices", "OnChange"]

_log = structlog.get_logger(__name__)

CHANNEL: Final = "giru:events:connections"
"""Each message is `<origin> <secret name>` in ASCII; origin: the publishing worker's id."""

OnChange = Callable[[str | None], None]
"""Called with a connection's secret name, or None: drop every cached connection."""


class ConnectionNotices:
    """Publishes and receives connection change notices (module docstring). `start()` begins
    listening (a task this object owns); `aclose()` ends it. Every Redis call has a timeout."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 2.0,
        heartbeat_s: float = 10.0,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._heartbeat_s = heartbeat_s
        self._max_backoff_s = max_backoff_s
        self.origin = secrets.token_hex(8)
        self._publisher = self._client(Retry(NoBackoff(), 1))
        self._on_change: OnChange | None = None
        self._listener: asyncio.Task[None] | None = None

    def _client(self, retry: Retry) -> Redis:
        return Redis.from_url(
            self._url,
            socket_timeout=self._timeout_s,
            socket_connect_timeout=self._timeout_s,
            retry=retry,
        )

    def start(self, on_change: OnChange) -> None:
        """Deliver other workers' notices to `on_change` from now on (call on the loop)."""
        self._on_change = on_change
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(
                self._listen(), name="giru-connection-notices"
            )

    async def publish(self, name: str) -> None:
        """Tell the other workers that connection `name` changed; never raises (logged)."""
        try:
            async with asyncio.timeout(2 * self._timeout_s):
                await self._publisher.publish(CHANNEL, f"{self.origin} {name}")
        except (RedisError, OSError) as exc:  # TimeoutError is an OSError
            _log.warning("connection_notice_not_published", error=repr(exc))

    async def aclose(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            await asyncio.wait([listener])
        await self._publisher.aclose()

    async def _listen(self) -> None:
        failures = 0
        while True:
            try:
                await self._listen_once()
            except (RedisError, OSError) as exc:
                error: BaseException = exc
            except Exception as exc:  # noqa: BLE001 -- the loop boundary: a bug must not end it
                _log.exception("connection_notices_failed")
                error = exc
            self._deliver_all()  # notices may be missed until the next subscription
            if failures == 0:
                _log.warning("connection_notices_lost_redis", error=repr(error))
            failures += 1
            delay = min(self._max_backoff_s, 0.1 * 2.0 ** min(failures, 30))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 -- jitter

    async def _listen_once(self) -> None:
        client = self._client(Retry(NoBackoff(), 0))
        pubsub = client.pubsub()
        try:
            await subscribe(pubsub, CHANNEL, timeout_s=self._timeout_s)
            self._deliver_all()
            await receive(pubsub, self._deliver, heartbeat_s=self._heartbeat_s)
        finally:
            await close_quietly(pubsub, client, timeout_s=self._timeout_s)

    def _deliver(self, data: object) -> None:
        text = data.decode("ascii", "replace") if isinstance(data, bytes) else str(data)
        origin, _, name = text.partition(" ")
        if origin != self.origin and name and self._on_change is not None:
            self._on_change(name)

    def _deliver_all(self) -> None:
        if self._on_change is not None:
            self._on_change(None)
