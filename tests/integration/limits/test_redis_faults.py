"""RedisLimiter when Redis goes away, hangs, or comes back: the local fallback answers, nothing
raises, metrics and one log line per outage say so."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from giru.limits import AdmissionRequest, LocalLimiter, RedisLimiter, admission_for, open_limiter
from giru.limits.metrics import LimiterMetrics
from giru.settings import LimitsSettings
from tests.integration.limits.conftest import MakeLimiter
from tests.services import RedisServer

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


class CoolDownClock:
    """The limiter's monotonic clock (seconds), moved by hand past the cool-down."""

    def __init__(self) -> None:
        self.s = 1000.0

    def __call__(self) -> float:
        return self.s


def gold(
    sub_rate: tuple[float, int | None] | None = (1000, 1000),
    quota: tuple[int | None, int | None] | None = None,
) -> AdmissionRequest:
    return admission_for("gold", sub_rate, "agent", None, "crm__find", None, quota, TODAY)


def value(limiter: RedisLimiter, name: str, **labels: str) -> float:
    found = limiter.metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


async def test_redis_killed_mid_run_falls_back_locally_then_comes_back_after_the_cool_down(
    make_limiter: MakeLimiter, redis_server: RedisServer
) -> None:
    clock = CoolDownClock()
    limiter = make_limiter(LimitsSettings(cool_down_s=1.0), clock=clock)
    try:
        with capture_logs() as logs:
            assert (await limiter.admit(gold())).source == "redis"
            redis_server.stop(kill=True)
            answers = [await limiter.admit(gold()) for _ in range(50)]
            clock.s += 1.5  # past the cool-down: Redis is tried again, and still fails
            answers += [await limiter.admit(gold()) for _ in range(50)]
            assert all(a.allowed and a.source == "local" for a in answers)
            assert not limiter.using_redis
            assert value(limiter, "giru_limiter_unavailable_total") == 2  # one per attempt
            assert value(limiter, "giru_limiter_fallback_total", kind="rate") == 100
            redis_server.start()
            clock.s += 1.5
            assert (await limiter.admit(gold())).source == "redis"
            assert limiter.using_redis
        events = [entry["event"] for entry in logs]
        assert events.count("limiter lost redis; using the local limiter") == 1
        assert events.count("limiter back on redis") == 1
    finally:
        redis_server.start()


async def test_the_local_fallback_enforces_the_rate_limit(
    make_limiter: MakeLimiter, redis_server: RedisServer
) -> None:
    limiter = make_limiter(LimitsSettings(cool_down_s=60))
    redis_server.stop(kill=True)
    try:
        answers = [await limiter.admit(gold(sub_rate=(1, 3))) for _ in range(5)]
        assert [a.allowed for a in answers] == [True, True, True, False, False]
        assert (answers[3].source, answers[3].limit) == ("local", "subscription")
        assert value(limiter, "giru_limit_rejections_total", limit="subscription") == 2
        assert value(limiter, "giru_limiter_unavailable_total") == 1  # then the cool-down
    finally:
        redis_server.start()


async def test_local_quota_fallback_continues_from_the_counts_redis_reported(
    make_limiter: MakeLimiter, redis_server: RedisServer
) -> None:
    limiter = make_limiter(LimitsSettings(cool_down_s=60, quota_fallback="local"))
    for _ in range(3):
        assert (await limiter.admit(gold(quota=(5, None)))).source == "redis"
    redis_server.stop(kill=True)
    try:
        answers = [await limiter.admit(gold(quota=(5, None))) for _ in range(3)]
        assert [(a.allowed, a.source, a.day_used) for a in answers] == [
            (True, "local", 4),
            (True, "local", 5),
            (False, "local", 5),
        ]
        assert answers[2].reason == "quota_exceeded"
        assert value(limiter, "giru_limiter_fallback_total", kind="quota") == 3
        assert await limiter.quota_usage("gold", TODAY) == (5, 5)
        await limiter.reconcile({"gold": (9, 9)}, TODAY)  # no Redis: the local counters
        assert await limiter.quota_usage("gold", TODAY) == (9, 9)
    finally:
        redis_server.start()


async def test_deny_quota_fallback_fails_closed_for_quotas_only(
    make_limiter: MakeLimiter, redis_server: RedisServer
) -> None:
    limiter = make_limiter(LimitsSettings(cool_down_s=2.5, quota_fallback="deny"))
    redis_server.stop(kill=True)
    try:
        denied = await limiter.admit(gold(quota=(100, None)))
        assert (denied.allowed, denied.reason, denied.retry_after_ms) == (
            False,
            "quota_unavailable",
            2500,
        )
        assert (await limiter.admit(gold())).allowed  # no quota: the local rate limit
        assert value(limiter, "giru_limit_rejections_total", limit="quota_unavailable") == 1
    finally:
        redis_server.start()


async def test_quota_usage_and_reconcile_survive_a_dead_redis(
    make_limiter: MakeLimiter, redis_server: RedisServer
) -> None:
    limiter = make_limiter(LimitsSettings(cool_down_s=60))
    redis_server.stop(kill=True)
    try:
        assert await limiter.quota_usage("gold", TODAY) == (0, 0)
        await limiter.reconcile({"gold": (2, 3)}, TODAY)
        assert await limiter.quota_usage("gold", TODAY) == (2, 3)
        assert value(limiter, "giru_limiter_unavailable_total") == 1
    finally:
        redis_server.start()


async def test_reconcile_failing_on_redis_still_seeds_the_local_counters(
    make_limiter: MakeLimiter, redis_server: RedisServer
) -> None:
    limiter = make_limiter(LimitsSettings(cool_down_s=60))
    assert (await limiter.admit(gold())).source == "redis"  # a pooled connection, now broken:
    redis_server.stop(kill=True)
    try:
        await limiter.reconcile({"gold": (4, 4)}, TODAY)
        assert value(limiter, "giru_limiter_unavailable_total") == 1
        assert await limiter.quota_usage("gold", TODAY) == (4, 4)
    finally:
        redis_server.start()


async def test_a_hung_redis_times_out_into_the_fallback(
    make_limiter: MakeLimiter, silent_port: int
) -> None:
    url = f"redis://127.0.0.1:{silent_port}/0"
    limiter = make_limiter(LimitsSettings(redis_timeout_s=0.05, cool_down_s=60), url=url)
    async with asyncio.timeout(5):  # a bound on the test, not a duration assertion
        admission = await limiter.admit(gold())
    assert (admission.allowed, admission.source) == (True, "local")
    assert value(limiter, "giru_limiter_unavailable_total") == 1


async def test_open_limiter_picks_the_implementation_and_registers_the_metrics(
    redis_url: str,
) -> None:
    settings = LimitsSettings()
    local = open_limiter(None, settings, CollectorRegistry())
    assert isinstance(local, LocalLimiter)
    registry = CollectorRegistry()
    shared = open_limiter(redis_url, settings, registry)
    try:
        assert isinstance(shared, RedisLimiter)
        assert shared.metrics.registry is registry
        assert registry.get_sample_value("giru_limiter_unavailable_total") == 0
    finally:
        await shared.aclose()
    assert isinstance(LimiterMetrics().registry, CollectorRegistry)


async def test_a_quota_only_call_falls_back_to_the_local_counters(
    make_limiter: MakeLimiter, redis_server: RedisServer
) -> None:
    limiter = make_limiter(LimitsSettings(cool_down_s=60))
    redis_server.stop(kill=True)
    try:
        answers = [await limiter.admit(gold(sub_rate=None, quota=(2, None))) for _ in range(3)]
        assert [(a.allowed, a.source) for a in answers] == [
            (True, "local"),
            (True, "local"),
            (False, "local"),
        ]
        assert value(limiter, "giru_limiter_fallback_total", kind="quota") == 3
        assert value(limiter, "giru_limiter_fallback_total", kind="rate") == 0
    finally:
        redis_server.start()


async def test_the_outage_log_line_leaves_out_the_redis_password(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(url="redis://:s3cret@127.0.0.1:1/0")  # nothing listens there
    with capture_logs() as logs:
        assert (await limiter.admit(gold())).source == "local"
    (warning,) = logs
    assert warning["redis"] == "redis://127.0.0.1:1/0"
    assert "s3cret" not in repr(warning)
