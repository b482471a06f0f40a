"""Rate limits and quotas end to end: real `giru run` workers, real Redis and PostgreSQL.

A subscription at 5 rps with a burst of 5, called 200 times over 10 s through two workers that
share Redis, admits about burst + rate x elapsed calls (55); the rest are refused with the limit
error, a retry hint and HTTP 429. A quota of 100 a day refuses call 101 and the API reports the
use. With Redis stopped mid-run, calls keep flowing under the local limiter and the fallback is
visible in the metrics.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.e2e.calls import tool_call
from tests.integration.gateway import (
    ADMIN_TOKEN,
    RunningGiru,
    python_stdio_server,
    run_giru,
    wait_until,
)
from tests.services import RedisServer

pytestmark = pytest.mark.integration

KEY = "giru_limits-e2e-key-0123456789abcdef"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def manifests(subscription: str) -> str:
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    client = f"""
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {{name: alice}}
spec: {{apiKeyHash: "sha256:{digest}"}}
"""
    sub = f"""
apiVersion: giru.ai/v1alpha1
kind: Subscription
metadata: {{name: alice-kit}}
spec:
  client: alice
  server: kit
  scopeType: all
{subscription}
"""
    return "---".join([python_stdio_server("kit"), client, sub])


async def call(http: httpx.AsyncClient, giru: RunningGiru, n: int) -> httpx.Response:
    body, headers = tool_call(KEY, "kit__echo", {"text": str(n)}, n)
    return await http.post(giru.url("/mcp"), content=body, headers=headers)


def outcome(response: httpx.Response) -> str:
    answer = response.json()
    if "result" in answer:
        assert response.status_code == 200
        return "ok"
    error = answer["error"]
    assert error["code"] in (-31429, -31430), answer
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert error["data"]["retryAfterMs"] > 0
    return str(error["data"]["reason"])


@pytest.fixture
def two_workers(postgres_url: str, redis_url: str, tmp_path: Path) -> Iterator[list[RunningGiru]]:
    env = {
        "GIRU_DATABASE_URL": postgres_url,
        "GIRU_REDIS_URL": redis_url,
        "GIRU_KEY_PEPPER": "limits-pepper-0123456789",
    }
    with ExitStack() as stack:
        workers = []
        for index, config in enumerate([manifests("  rateLimitRps: 5\n  burst: 5"), None]):
            workdir = tmp_path / f"worker{index}"
            workdir.mkdir()
            workers.append(stack.enter_context(run_giru(config, workdir, extra_env=env)))
        yield workers


async def test_a_rate_limit_holds_across_two_workers(two_workers: list[RunningGiru]) -> None:
    _first, second = two_workers
    async with httpx.AsyncClient(timeout=10) as http:
        await _until_served(http, second)
        await asyncio.sleep(1.5)  # let the probe's tokens refill: the run starts from a full bucket
        started = time.monotonic()
        outcomes = []
        for n in range(200):  # 20 calls a second for 10 s, alternating workers
            await _at(started + n * 0.05)
            outcomes.append(outcome(await call(http, two_workers[n % 2], n)))
        elapsed = time.monotonic() - started
    admitted = outcomes.count("ok")
    expected = 5 + 5 * elapsed  # the burst, then the rate, over the run
    print(f"admitted {admitted} of 200 in {elapsed:.2f}s (burst + rate x elapsed = {expected:.1f})")
    assert abs(admitted - expected) <= 0.1 * expected
    assert outcomes.count("rate_limited") == 200 - admitted


async def _at(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.monotonic()))


async def _until_served(http: httpx.AsyncClient, giru: RunningGiru) -> None:
    """Until `giru` knows the subscription (a worker learns it from the store)."""
    for _ in range(200):
        if (await call(http, giru, -1)).status_code in (200, 429):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{giru.base} never served kit__echo")


def test_a_daily_quota_refuses_call_101_and_the_api_shows_the_use(tmp_path: Path) -> None:
    with run_giru(manifests("  quotaPerDay: 100"), tmp_path) as giru:
        answers = asyncio.run(_calls(giru, 101))
        assert [outcome(a) for a in answers] == ["ok"] * 100 + ["quota_exceeded"]
        refused = answers[-1].json()["error"]
        assert refused["message"] == "Quota exceeded"
        assert refused["data"]["period"] == "day"
        assert refused["data"]["limit"] == 100
        tools = httpx.get(giru.url("/api/v1/clients/alice/tools"), headers=ADMIN).json()["tools"]
        echo = next(tool for tool in tools if tool["name"] == "kit__echo")
        assert echo["quota"]["usedToday"] == 100
        assert echo["quota"]["remainingToday"] == 0


async def _calls(giru: RunningGiru, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=10) as http:
        return [await call(http, giru, n) for n in range(count)]


def test_redis_down_falls_back_to_the_local_limiter(
    redis_server: RedisServer, redis_url: str, tmp_path: Path
) -> None:
    env = {"GIRU_REDIS_URL": redis_url}
    with run_giru(
        manifests("  rateLimitRps: 1000\n  burst: 1000"), tmp_path, extra_env=env
    ) as giru:
        assert [outcome(a) for a in asyncio.run(_calls(giru, 5))] == ["ok"] * 5
        redis_server.stop(kill=True)
        try:
            answers = asyncio.run(_calls(giru, 20))
            assert [outcome(a) for a in answers] == ["ok"] * 20
            wait_until(lambda: _metric(giru, "giru_limiter_fallback_total") > 0, "fallback metric")
            assert _metric(giru, "giru_limiter_unavailable_total") >= 1
        finally:
            redis_server.start()


def _metric(giru: RunningGiru, name: str) -> float:
    text = httpx.get(giru.url("/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def test_the_quotas_api_lists_a_quota_near_its_limit(tmp_path: Path) -> None:
    with run_giru(manifests("  quotaPerDay: 5\n  quotaPerMonth: 100"), tmp_path) as giru:
        answers = asyncio.run(_calls(giru, 4))
        assert [outcome(a) for a in answers] == ["ok"] * 4
        near = httpx.get(giru.url("/api/v1/quotas?minUsed=0.8"), headers=ADMIN).json()["items"]
        assert near == [
            {
                "subscription": "alice-kit",
                "client": "alice",
                "subject": None,
                "server": "kit",
                "period": "day",
                "limit": 5,
                "used": 4,
                "usedFraction": 0.8,
            }
        ]
        every = httpx.get(giru.url("/api/v1/quotas"), headers=ADMIN).json()["items"]
        assert [(q["period"], q["used"], q["limit"]) for q in every] == [
            ("day", 4, 5),
            ("month", 4, 100),
        ]
