"""RedisLimiter against a real Redis: the GCRA tables, quotas, atomicity, two workers, reconcile."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis

from giru.limits import Admission, AdmissionRequest, RedisLimiter, admission_for
from giru.limits.periods import Calendar, quota_keys
from giru.settings import LimitsSettings
from tests.integration.limits.conftest import MakeLimiter, ServerClock
from tests.unit.limits.tables import ALLOW, GCRA_TABLES, NOW, Step, client_request

pytestmark = pytest.mark.integration

# Quota counters expire at their period's end (plus a day): quota tests run on today's date.
TODAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def gold(
    now: datetime = TODAY,
    *,
    sub_rate: tuple[float, int | None] | None = None,
    tool_rate: tuple[float, int | None] | None = None,
    quota: tuple[int | None, int | None] | None = None,
) -> AdmissionRequest:
    return admission_for("gold", sub_rate, "agent", None, "crm__find", tool_rate, quota, now)


@pytest.mark.parametrize("name", sorted(GCRA_TABLES))
async def test_redis_limiter_follows_the_gcra_table(name: str, make_limiter: MakeLimiter) -> None:
    rps, burst, steps = GCRA_TABLES[name]
    clock = ServerClock()
    limiter = make_limiter(server_clock_us=clock)
    answers: list[Step] = []
    for at_ms, _ in steps:
        clock.at_ms(at_ms)
        admission = await limiter.admit(client_request(rps, burst))
        assert admission.source == "redis"
        answers.append((at_ms, ALLOW if admission.allowed else admission.retry_after_ms))
    assert answers == steps


async def test_with_redis_time_a_burst_passes_then_the_retry_hint_is_under_an_interval(
    make_limiter: MakeLimiter, redis_client: Redis
) -> None:
    limiter = make_limiter()
    answers = [await limiter.admit(client_request(5, 5)) for _ in range(6)]
    assert [a.allowed for a in answers] == [True] * 5 + [False]
    denied = answers[5]
    assert (denied.source, denied.reason, denied.limit) == ("redis", "rate_limited", "client")
    assert 0 < denied.retry_after_ms <= 200
    assert 0 < await redis_client.pttl("giru:rl:client:agent") <= 1000


async def test_call_101_of_a_100_per_day_quota_is_denied(
    make_limiter: MakeLimiter, redis_client: Redis
) -> None:
    limiter = make_limiter(LimitsSettings(timezone="Europe/Paris"))
    paris = ZoneInfo("Europe/Paris")
    now = datetime.combine(datetime.now(paris).date(), time(23), tzinfo=paris)
    answers = [await limiter.admit(gold(now, quota=(100, 5000))) for _ in range(101)]
    assert all(a.allowed for a in answers[:100])
    assert answers[99] == Admission(True, "redis", day_used=100, month_used=100)
    assert answers[100] == Admission(
        False, "redis", "quota_exceeded", "day", 100, 3_600_000, day_used=100, month_used=100
    )
    assert await limiter.quota_usage("gold", now) == (100, 100)
    periods = Calendar("Europe/Paris").periods(now)
    day_key, month_key = quota_keys("gold", periods)
    assert await redis_client.get(day_key) == "100"
    assert await redis_client.expiretime(day_key) == periods.day_expire_at
    assert await redis_client.expiretime(month_key) == periods.month_expire_at


async def test_a_month_quota_denies_with_the_time_to_the_month_end(
    make_limiter: MakeLimiter,
) -> None:
    limiter = make_limiter()
    assert (await limiter.admit(gold(quota=(None, 1)))).allowed
    denied = await limiter.admit(gold(quota=(None, 1)))
    assert (denied.reason, denied.limit, denied.value) == ("quota_exceeded", "month", 1)
    month_end = Calendar("UTC").periods(TODAY).month_end
    assert denied.retry_after_ms == round((month_end - TODAY.timestamp()) * 1000)


async def test_a_denied_tool_limit_consumes_neither_subscription_tokens_nor_quota(
    make_limiter: MakeLimiter, redis_client: Redis
) -> None:
    limiter = make_limiter(server_clock_us=ServerClock())
    request = gold(sub_rate=(10, 3), tool_rate=(1, 1), quota=(100, None))
    assert (await limiter.admit(request)).allowed
    tat = await redis_client.get("giru:rl:sub:gold")
    denied = await limiter.admit(request)
    assert (denied.reason, denied.limit, denied.retry_after_ms) == ("rate_limited", "tool", 1000)
    assert await redis_client.get("giru:rl:sub:gold") == tat
    assert await limiter.quota_usage("gold", TODAY) == (1, 1)
    # the subscription still has 2 of its 3 tokens
    other = admission_for("gold", (10, 3), "agent", None, "other", None, (100, None), TODAY)
    assert [(await limiter.admit(other)).allowed for _ in range(3)] == [True, True, False]


async def test_two_workers_sharing_redis_admit_55_of_200_calls_in_10_s_at_5_rps_burst_5(
    make_limiter: MakeLimiter,
) -> None:
    clock = ServerClock()  # both workers read one clock, as they read one Redis TIME
    workers = [make_limiter(server_clock_us=clock), make_limiter(server_clock_us=clock)]
    request = gold(sub_rate=(5, 5))
    allowed = 0
    for call in range(200):  # evenly over [0, 10 s], alternating workers
        clock.at_ms(round(call * 10_000 / 199))
        admission = await workers[call % 2].admit(request)
        allowed += admission.allowed
        if not admission.allowed:
            assert (admission.limit, admission.source) == ("subscription", "redis")
            assert 0 < admission.retry_after_ms <= 200
    assert allowed == 55


async def test_two_workers_on_redis_time_admit_burst_plus_rate_times_elapsed(
    make_limiter: MakeLimiter, redis_client: Redis
) -> None:
    """The same shape on Redis's own clock, ten times faster (50 rps, ~1 s): the count is
    checked against the span Redis measured, not against a wall-clock expectation."""
    workers = [make_limiter(), make_limiter()]
    request = gold(sub_rate=(50, 5))
    results: list[Admission] = []

    async def fire(worker: RedisLimiter) -> None:
        for _ in range(100):
            results.append(await worker.admit(request))
            await asyncio.sleep(0.01)

    first = await redis_client.time()
    async with asyncio.TaskGroup() as tasks:
        for worker in workers:
            tasks.create_task(fire(worker))
    last = await redis_client.time()
    span_s = (last[0] - first[0]) + (last[1] - first[1]) / 1e6
    expected = 5 + 50 * span_s
    allowed = sum(a.allowed for a in results)
    assert abs(allowed - expected) <= max(2.0, 0.1 * expected), (allowed, expected, span_s)
    assert all(a.source == "redis" for a in results)


async def test_reconcile_raises_counters_with_their_ttl_and_never_lowers_them(
    make_limiter: MakeLimiter, redis_client: Redis
) -> None:
    limiter = make_limiter()
    for _ in range(5):
        await limiter.admit(gold(quota=(100, 1000)))
    await limiter.reconcile({"gold": (3, 40), "silver": (7, 8)}, TODAY)
    assert await limiter.quota_usage("gold", TODAY) == (5, 40)
    assert await limiter.quota_usage("silver", TODAY) == (7, 8)
    await limiter.reconcile({"gold": (0, 0), "silver": (1, 1)}, TODAY)
    assert await limiter.quota_usage("gold", TODAY) == (5, 40)
    assert await limiter.quota_usage("silver", TODAY) == (7, 8)
    periods = Calendar("UTC").periods(TODAY)
    silver_day, _ = quota_keys("silver", periods)
    _, gold_month = quota_keys("gold", periods)
    assert await redis_client.expiretime(silver_day) == periods.day_expire_at
    assert await redis_client.expiretime(gold_month) == periods.month_expire_at
    # the counters go on from the reconciled values
    assert (await limiter.admit(gold(quota=(100, 1000)))).month_used == 41


async def test_reconcile_handles_many_subscriptions(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    counts = {f"sub-{index}": (index, 2 * index) for index in range(600)}  # several batches
    await limiter.reconcile(counts, TODAY)
    assert await limiter.quota_usage("sub-599", TODAY) == (599, 1198)
    assert await limiter.quota_usage("sub-0", TODAY) == (0, 0)


async def test_the_script_is_loaded_again_after_redis_forgets_it(
    make_limiter: MakeLimiter, redis_client: Redis
) -> None:
    limiter = make_limiter()
    assert (await limiter.admit(gold(sub_rate=(10, 10)))).source == "redis"
    await redis_client.script_flush()
    admission = await limiter.admit(gold(sub_rate=(10, 10)))
    assert (admission.allowed, admission.source) == (True, "redis")
    assert limiter.metrics.registry.get_sample_value("giru_limiter_unavailable_total") == 0


async def test_a_request_without_limits_needs_no_redis(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(url="redis://127.0.0.1:1/0")  # nothing listens there
    request = admission_for(None, None, "agent", None, "t", None, None, NOW)
    assert (await limiter.admit(request)).allowed
    assert limiter.metrics.registry.get_sample_value("giru_limiter_unavailable_total") == 0
