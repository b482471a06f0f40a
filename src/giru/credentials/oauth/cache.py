"""`TokenCache`: OAuth tokens kept until shortly before they expire, obtained single-flight.

    cache = TokenCache(shared=RedisTokens(redis_url, keyring))   # or TokenCache() alone
    tokens = await cache.get("cc:github", fetch)   # fetch(previous) -> TokenSet
    tokens = cache.peek("cc:github")                # the hot path: fresh in memory, or None

`get` answers from memory while the tokens are `fresh` (more than a refresh margin left: 60 s
or a fifth of the lifetime, whichever is shorter). Otherwise one caller per key in this process
obtains new ones (`fetch(previous)`: `previous` holds the refresh token, if any) while the others
wait for it (those holding a still-unexpired token keep using it meanwhile). With `shared` set,
that one caller first takes the key's lock across workers, then reads the shared copy (another
worker may have just refreshed it) and only fetches when that is not fresh either; new tokens
are written to `shared` *before* they are used, so a rotated refresh token is never lost to a
crash (RFC 9700 §4.14). Exactly one token request per key per expiry, however many workers.

When the shared store cannot be reached: tokens without a refresh token are fetched locally
(logged; the cost is one more token request); tokens with one are not (two workers refreshing
the same rotating token would invalidate each other) and `get` raises
`CredentialsUnavailableError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

import structlog

from giru.credentials.oauth.tokens import TokenSet
from giru.errors import CredentialsUnavailableError

__all__ = ["Fetch", "SharedTokens", "SharedTokensError", "TokenCache"]

_log = structlog.get_logger(__name__)
_MAX_KEYS: Final = 100_000

Fetch = Callable[[TokenSet | None], Awaitable[TokenSet]]
"""(previous tokens or None) -> new tokens; raises `OAuthError` (credentials_unavailable)."""


class SharedTokens(Protocol):
    """Tokens and a lock per key shared by every worker (`RedisTokens`). Each method raises
    `SharedTokensError` when the store cannot be reached; releasing a lock never raises."""

    def lock(self, key: str) -> contextlib.AbstractAsyncContextManager[None]: ...

    async def load(self, key: str) -> TokenSet | None: ...

    async def save(self, key: str, tokens: TokenSet) -> None: ...

    async def aclose(self) -> None: ...


class TokenCache:
    """See the module docstring."""

    def __init__(
        self,
        *,
        shared: SharedTokens | None = None,
        margin_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.shared = shared
        self._margin_s = margin_s
        self._clock = clock
        self._memory: dict[str, TokenSet] = {}
        self._flights: dict[str, asyncio.Future[TokenSet]] = {}
        self._stale: set[str] = set()
        """Keys forgotten while their tokens were being obtained: not kept when they arrive."""
        self.fetches = 0
        """Token requests made through this cache (for metrics and tests)."""

    def peek(self, key: str) -> TokenSet | None:
        """The tokens for `key` when they are fresh in this process's memory."""
        tokens = self._memory.get(key)
        if tokens is not None and tokens.fresh(self._clock(), self._margin_s):
            return tokens
        return None

    async def expire(self, key: str, refused: TokenSet) -> None:
        """The upstream refused `refused` (401): treat it as expired here and, when it is
        still the shared copy, for every worker. The next `get` obtains new tokens (with the
        refresh token, when there is one)."""
        now = self._clock()
        if self._memory.get(key) == refused:
            self._memory[key] = _expired(refused, now)
        if self.shared is None:
            return
        try:
            async with self.shared.lock(key):
                stored = await self.shared.load(key)
                if stored is not None and stored.access_token == refused.access_token:
                    await self.shared.save(key, _expired(stored, now))
        except SharedTokensError as exc:
            _log.warning("oauth_token_store_unavailable", key=key, error=exc.message)

    def forget(self, key: str | None = None) -> None:
        """Drop the tokens for `key` (or every key) from memory; tokens being obtained for it
        meanwhile are handed to the calls that wait for them but not kept."""
        if key is None:
            self._memory.clear()
            self._stale.update(self._flights)
        else:
            self._memory.pop(key, None)
            if key in self._flights:
                self._stale.add(key)

    async def get(self, key: str, fetch: Fetch) -> TokenSet:
        """Fresh tokens for `key` (module docstring). Raises what `fetch` raises."""
        while True:
            current = self._memory.get(key)
            now = self._clock()
            if current is not None and current.fresh(now, self._margin_s):
                return current
            flight = self._flights.get(key)
            if flight is None:
                return await self._lead(key, current, fetch)
            if current is not None and current.usable(now):
                return current
            try:
                return await asyncio.shield(flight)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not flight.cancelled() or (task is not None and task.cancelling()):
                    raise
                # the leader was cancelled, not this caller: lead the next attempt

    async def _lead(self, key: str, current: TokenSet | None, fetch: Fetch) -> TokenSet:
        future: asyncio.Future[TokenSet] = asyncio.get_running_loop().create_future()
        self._flights[key] = future
        try:
            tokens = await self._obtain(key, current, fetch)
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it
            raise
        except BaseException:
            future.cancel()
            raise
        finally:
            self._flights.pop(key, None)
            stale = key in self._stale
            self._stale.discard(key)
        if len(self._memory) >= _MAX_KEYS:
            self._memory.clear()
        if not stale:
            self._memory[key] = tokens
        future.set_result(tokens)
        return tokens

    async def _obtain(self, key: str, current: TokenSet | None, fetch: Fetch) -> TokenSet:
        if self.shared is None:
            return await self._fetch(fetch, current)
        tokens: TokenSet | None = None
        try:
            async with self.shared.lock(key):
                stored = await self.shared.load(key)
                if stored is not None and stored.fresh(self._clock(), self._margin_s):
                    return stored
                tokens = await self._fetch(fetch, stored or current)
                await self.shared.save(key, tokens)  # before anyone uses a rotated token
                return tokens
        except SharedTokensError as exc:
            held = tokens or current
            if held is not None and held.refresh_token:
                raise
            _log.warning("oauth_token_store_unavailable", key=key, error=exc.message)
            return tokens if tokens is not None else await self._fetch(fetch, current)

    async def _fetch(self, fetch: Fetch, previous: TokenSet | None) -> TokenSet:
        self.fetches += 1
        return await fetch(previous)


def _expired(tokens: TokenSet, now: float) -> TokenSet:
    return dataclasses.replace(tokens, obtained_at=min(tokens.obtained_at, now), expires_at=now)


class SharedTokensError(CredentialsUnavailableError):
    """The shared token store (Redis) cannot be reached or read."""
