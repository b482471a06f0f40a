"""Token caches of two workers sharing a real Redis, against a real (in-process) token
endpoint: one token request per expiry, tokens sealed in Redis, a Redis outage handled."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web
from redis.asyncio import Redis

from giru.credentials import Keyring
from giru.credentials.oauth import (
    ClientAuth,
    OAuthHttp,
    RedisTokens,
    TokenCache,
    TokenEndpoint,
    TokenSet,
)
from tests.services import RedisServer
from tests.unit.credentials.oauth.conftest import TestAS, auth_server, http, oauth_http

__all__ = ["auth_server", "http", "oauth_http"]

pytestmark = pytest.mark.integration

KEYRING = Keyring([bytes(range(32))])


def fetcher(auth_server: TestAS, oauth_http: OAuthHttp) -> TokenEndpoint:
    auth = ClientAuth("giru", "client_secret_basic", "s3cret")
    return TokenEndpoint(oauth_http, f"{auth_server.base}/token", auth, issuer=auth_server.base)


async def test_a_token_about_to_expire_is_refreshed_once_for_fifty_calls_on_two_workers(
    redis_url: str, auth_server: TestAS, oauth_http: OAuthHttp
) -> None:
    now = [time.time()]
    endpoint = TokenEndpoint(
        oauth_http,
        f"{auth_server.base}/token",
        ClientAuth("giru", "client_secret_basic", "s3cret"),
        clock=lambda: now[0],
    )
    auth_server.token_reply = lambda seen: web.json_response(
        {"access_token": f"at-{len(auth_server.tokens)}", "expires_in": 2, "refresh_token": "rt"}
    )

    async def fetch(previous: TokenSet | None) -> TokenSet:
        if previous is not None and previous.refresh_token:
            return await endpoint.refresh(previous.refresh_token)
        return await endpoint.client_credentials(resource=auth_server.server_url)

    workers = [TokenCache(shared=RedisTokens(redis_url, KEYRING), clock=lambda: now[0])]
    workers.append(TokenCache(shared=RedisTokens(redis_url, KEYRING), clock=lambda: now[0]))
    try:
        async with asyncio.TaskGroup() as tasks:
            calls = [tasks.create_task(w.get("cc:x", fetch)) for w in workers for _ in range(25)]
        assert {c.result().access_token for c in calls} == {"at-1"}
        now[0] += 1.7  # 0.3 s left of 2 s: inside the refresh margin (a fifth of the lifetime)
        async with asyncio.TaskGroup() as tasks:
            calls = [tasks.create_task(w.get("cc:x", fetch)) for w in workers for _ in range(25)]
        # while the one refresh is under way, callers keep the still-valid token
        assert {c.result().access_token for c in calls} <= {"at-1", "at-2"}
        assert [(await w.get("cc:x", fetch)).access_token for w in workers] == ["at-2"] * 2
        assert [t.form["grant_type"] for t in auth_server.tokens] == [
            "client_credentials",
            "refresh_token",
        ]
        refused = await workers[0].get("cc:x", fetch)
        for worker in workers:  # the upstream refused it on both
            await worker.expire("cc:x", refused)
        assert (await workers[1].get("cc:x", fetch)).access_token == "at-3"
        assert (await workers[0].get("cc:x", fetch)).access_token == "at-3"  # from Redis
        assert len(auth_server.tokens) == 3
    finally:
        for worker in workers:
            assert worker.shared is not None
            await worker.shared.aclose()


async def test_redis_holds_the_tokens_sealed(
    redis_url: str, auth_server: TestAS, oauth_http: OAuthHttp
) -> None:
    shared = RedisTokens(redis_url, KEYRING)
    cache = TokenCache(shared=shared)
    endpoint = fetcher(auth_server, oauth_http)

    async def fetch(_: TokenSet | None) -> TokenSet:
        return await endpoint.client_credentials()

    try:
        tokens = await cache.get("cc:sealed", fetch)
        raw = Redis.from_url(redis_url)
        try:
            keys = await raw.keys("giru:oauth:token:*")
            values = [await raw.get(k) for k in keys]
        finally:
            await raw.aclose()
        assert len(values) == 1
        assert isinstance(values[0], bytes)
        assert tokens.access_token.encode() not in values[0]
        assert (await shared.load("cc:sealed")) == tokens
    finally:
        await shared.aclose()


async def test_with_redis_down_a_client_credentials_token_is_still_fetched(
    redis_server: RedisServer, redis_url: str, auth_server: TestAS, oauth_http: OAuthHttp
) -> None:
    shared = RedisTokens(redis_url, KEYRING, timeout_s=0.5)
    endpoint = fetcher(auth_server, oauth_http)

    async def fetch(_: TokenSet | None) -> TokenSet:
        return await endpoint.client_credentials()

    redis_server.stop()
    try:
        tokens = await TokenCache(shared=shared).get("cc:down", fetch)
        assert tokens.access_token == "at-1"
    finally:
        await shared.aclose()
        redis_server.start()
