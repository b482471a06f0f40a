from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from giru.credentials.oauth import SharedTokensError, TokenCache, TokenEndpointError, TokenSet


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Issuer:
    """A fake token endpoint: counts requests, rotates refresh tokens, can be held open."""

    def __init__(self, clock: Clock, lifetime: float = 100.0) -> None:
        self.clock, self.lifetime = clock, lifetime
        self.requests: list[str | None] = []
        self.gate: asyncio.Event | None = None
        self.failure: Exception | None = None
        self.entered = asyncio.Event()

    async def __call__(self, previous: TokenSet | None) -> TokenSet:
        self.requests.append(previous.refresh_token if previous else None)
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.failure is not None:
            raise self.failure
        n = len(self.requests)
        now = self.clock()
        return TokenSet(f"at-{n}", now, now + self.lifetime, f"rt-{n}")


class MemoryShared:
    """`SharedTokens` in memory: what two workers sharing one Redis see."""

    def __init__(self) -> None:
        self.tokens: dict[str, TokenSet] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.events: list[str] = []
        self.down = False

    @contextlib.asynccontextmanager
    async def lock(self, key: str) -> AsyncIterator[None]:
        if self.down:
            raise SharedTokensError("redis is down")
        async with self.locks.setdefault(key, asyncio.Lock()):
            yield

    async def load(self, key: str) -> TokenSet | None:
        return self.tokens.get(key)

    async def save(self, key: str, tokens: TokenSet) -> None:
        self.events.append(f"save {tokens.refresh_token}")
        self.tokens[key] = tokens

    async def aclose(self) -> None:
        return None


async def test_concurrent_callers_share_one_token_request() -> None:
    clock = Clock()
    issuer = Issuer(clock)
    issuer.gate = asyncio.Event()
    cache = TokenCache(clock=clock)
    async with asyncio.TaskGroup() as tasks:
        calls = [tasks.create_task(cache.get("k", issuer)) for _ in range(50)]
        await issuer.entered.wait()  # the callers created before it are waiting on the flight
        issuer.gate.set()
    results = [call.result() for call in calls]
    assert {t.access_token for t in results} == {"at-1"}
    assert len(issuer.requests) == 1
    assert cache.peek("k") is results[0]


async def test_tokens_are_refreshed_before_they_expire_with_the_refresh_token() -> None:
    clock = Clock()
    issuer = Issuer(clock, lifetime=2.0)
    cache = TokenCache(clock=clock)
    first = await cache.get("k", issuer)
    clock.now += 1.5
    assert await cache.get("k", issuer) is first  # 0.5 s left: more than a fifth of 2 s
    clock.now += 0.2
    second = await cache.get("k", issuer)
    assert second.access_token == "at-2"
    assert issuer.requests == [None, "rt-1"]


async def test_callers_keep_an_unexpired_token_while_its_refresh_is_under_way() -> None:
    clock = Clock()
    issuer = Issuer(clock, lifetime=10.0)
    cache = TokenCache(clock=clock)
    first = await cache.get("k", issuer)
    clock.now += 9.0
    issuer.gate = asyncio.Event()
    issuer.entered.clear()
    async with asyncio.TaskGroup() as tasks:
        refreshing = tasks.create_task(cache.get("k", issuer))
        await issuer.entered.wait()
        assert await cache.get("k", issuer) is first
        issuer.gate.set()
    assert refreshing.result().access_token == "at-2"


async def test_a_failed_fetch_reaches_every_waiter_and_is_not_cached() -> None:
    clock = Clock()
    issuer = Issuer(clock)
    issuer.gate = asyncio.Event()
    issuer.failure = TokenEndpointError("refused", error="invalid_client", status=401)
    cache = TokenCache(clock=clock)

    async def attempt() -> BaseException | None:
        try:
            await cache.get("k", issuer)
        except TokenEndpointError as exc:
            return exc
        return None

    async with asyncio.TaskGroup() as tasks:
        calls = [tasks.create_task(attempt()) for _ in range(3)]
        await issuer.entered.wait()
        issuer.gate.set()
    assert all(isinstance(call.result(), TokenEndpointError) for call in calls)
    assert len(issuer.requests) == 1
    issuer.failure = None
    assert (await cache.get("k", issuer)).access_token == "at-2"


async def test_two_workers_sharing_a_store_make_exactly_one_token_request() -> None:
    clock = Clock()
    issuer = Issuer(clock)
    shared = MemoryShared()
    workers = [TokenCache(shared=shared, clock=clock) for _ in range(2)]
    calls = [w.get("k", issuer) for w in workers for _ in range(25)]
    results = await asyncio.gather(*calls)
    assert {t.access_token for t in results} == {"at-1"}
    assert len(issuer.requests) == 1


async def test_a_rotated_refresh_token_is_stored_before_it_is_used() -> None:
    clock = Clock()
    issuer = Issuer(clock, lifetime=10.0)
    shared = MemoryShared()
    a, b = TokenCache(shared=shared, clock=clock), TokenCache(shared=shared, clock=clock)
    await a.get("k", issuer)
    clock.now += 20
    refreshed = await b.get("k", issuer)  # worker b refreshes with the stored refresh token
    assert issuer.requests == [None, "rt-1"]
    assert shared.events == ["save rt-1", "save rt-2"]
    assert shared.tokens["k"] is refreshed
    assert (await a.get("k", issuer)).access_token == "at-2"  # a reads b's, no request
    assert len(issuer.requests) == 2


async def test_without_the_shared_store_only_tokens_without_refresh_are_fetched_locally() -> None:
    clock = Clock()
    shared = MemoryShared()
    shared.down = True
    cache = TokenCache(shared=shared, clock=clock)
    issuer = Issuer(clock)
    assert (await cache.get("k", issuer)).access_token == "at-1"  # first fetch: allowed
    clock.now += 1000
    with pytest.raises(SharedTokensError):  # rt-1 could be rotated twice: refused
        await cache.get("k", issuer)
    assert issuer.requests == [None]


async def test_an_expired_token_is_obtained_again() -> None:
    clock = Clock()
    issuer = Issuer(clock)
    cache = TokenCache(clock=clock)
    refused = await cache.get("k", issuer)
    await cache.expire("k", refused)
    assert cache.peek("k") is None
    assert (await cache.get("k", issuer)).access_token == "at-2"
    assert issuer.requests == [None, "rt-1"]


async def test_tokens_forgotten_while_being_obtained_reach_their_callers_but_are_not_kept() -> None:
    clock = Clock()
    issuer = Issuer(clock)
    issuer.gate = asyncio.Event()
    cache = TokenCache(clock=clock)
    async with asyncio.TaskGroup() as tasks:
        obtaining = tasks.create_task(cache.get("k", issuer))
        await issuer.entered.wait()
        cache.forget("k")  # the connection changed meanwhile (another worker said so)
        issuer.gate.set()
    assert obtaining.result().access_token == "at-1"
    assert cache.peek("k") is None
    issuer.gate = None
    assert (await cache.get("k", issuer)).access_token == "at-2"
    assert cache.peek("k") is not None


async def test_forgetting_every_key_also_drops_tokens_being_obtained() -> None:
    clock = Clock()
    issuer = Issuer(clock)
    issuer.gate = asyncio.Event()
    cache = TokenCache(clock=clock)
    async with asyncio.TaskGroup() as tasks:
        obtaining = tasks.create_task(cache.get("k", issuer))
        await issuer.entered.wait()
        cache.forget()
        issuer.gate.set()
    assert obtaining.result().access_token == "at-1"
    assert cache.peek("k") is None
