"""The in-process limiter: quotas, atomicity across limits, reconcile, metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from giru.limits import Admission, AdmissionRequest, LimiterMetrics, LocalLimiter, admission_for
from tests.unit.limits.clock import FakeClock
from tests.unit.limits.tables import NOW


def call(
    now: datetime = NOW,
    *,
    sub_rate: tuple[float, int | None] | None = None,
    tool_rate: tuple[float, int | None] | None = None,
    tool: str = "crm__find",
    quota: tuple[int | None, int | None] | None = None,
) -> AdmissionRequest:
    """A call of client `agent` under subscription `gold`."""
    return admission_for("gold", sub_rate, "agent", None, tool, tool_rate, quota, now)


def sample(metrics: LimiterMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_call_101_of_a_100_per_day_quota_is_denied_until_midnight() -> None:
    limiter = LocalLimiter("Europe/Paris", clock=FakeClock())
    now = datetime(2025, 1, 15, 22, 0, tzinfo=UTC)  # 23:00 in Paris: 1 h to go
    answers = [limiter.decide(call(now, quota=(100, None))) for _ in range(101)]
    assert all(a.allowed for a in answers[:100])
    assert (answers[99].day_used, answers[99].month_used) == (100, 100)
    assert answers[100] == Admission(
        False, "local", "quota_exceeded", "day", 100, 3_600_000, day_used=100, month_used=100
    )
    tomorrow = now + timedelta(hours=1)
    assert limiter.decide(call(tomorrow, quota=(100, None))).day_used == 1


def test_the_month_quota_holds_across_days() -> None:
    limiter = LocalLimiter(clock=FakeClock())
    assert limiter.decide(call(NOW, quota=(None, 2))).allowed
    assert limiter.decide(call(NOW + timedelta(days=1), quota=(None, 2))).allowed
    denied = limiter.decide(call(NOW + timedelta(days=2), quota=(None, 2)))
    assert (denied.reason, denied.limit, denied.value, denied.month_used) == (
        "quota_exceeded",
        "month",
        2,
        2,
    )
    next_month = datetime(2025, 7, 1, tzinfo=UTC)
    assert limiter.decide(call(next_month, quota=(None, 2))).month_used == 1


def test_a_denied_tool_limit_consumes_neither_subscription_tokens_nor_quota() -> None:
    limiter = LocalLimiter(clock=FakeClock())

    def gold(tool: str, tool_rate: tuple[float, int | None] | None) -> AdmissionRequest:
        return call(sub_rate=(10, 3), tool=tool, tool_rate=tool_rate, quota=(100, None))

    assert limiter.decide(gold("crm__find", (1, 1))).allowed
    denied = limiter.decide(gold("crm__find", (1, 1)))
    assert (denied.reason, denied.limit, denied.retry_after_ms) == ("rate_limited", "tool", 1000)
    assert limiter.usage("gold", NOW) == (1, 1)
    # the subscription still has 2 of its 3 tokens
    other = [limiter.decide(gold("other", None)).allowed for _ in range(3)]
    assert other == [True, True, False]
    assert limiter.usage("gold", NOW) == (3, 3)


def test_an_exhausted_quota_consumes_no_rate_tokens_and_wins_over_a_rate_denial() -> None:
    limiter = LocalLimiter(clock=FakeClock())
    assert limiter.decide(call(sub_rate=(1, 2), quota=(1, None))).allowed
    denied = limiter.decide(call(sub_rate=(1, 2), quota=(1, None)))
    assert (denied.reason, denied.limit) == ("quota_exceeded", "day")
    # the subscription's second token is still there
    assert limiter.decide(call(sub_rate=(1, 2))).allowed
    denied = limiter.decide(call(sub_rate=(1, 2), quota=(1, None)))
    assert denied.reason == "quota_exceeded"  # both deny: the quota is the one to report


def test_the_limit_with_the_longest_wait_is_reported() -> None:
    limiter = LocalLimiter(clock=FakeClock())
    assert limiter.decide(call(sub_rate=(10, 1), tool_rate=(1, 1))).allowed
    denied = limiter.decide(call(sub_rate=(10, 1), tool_rate=(1, 1)))
    assert (denied.limit, denied.retry_after_ms) == ("tool", 1000)


async def test_reconcile_raises_counters_and_never_lowers_them() -> None:
    limiter = LocalLimiter(clock=FakeClock())
    for _ in range(5):
        limiter.decide(call(quota=(100, 1000)))
    await limiter.reconcile({"gold": (3, 40), "silver": (7, 8)}, NOW)
    assert limiter.usage("gold", NOW) == (5, 40)
    assert limiter.usage("silver", NOW) == (7, 8)


async def test_the_async_interface_counts_rejections_by_limit() -> None:
    metrics = LimiterMetrics()
    limiter = LocalLimiter(clock=FakeClock(), metrics=metrics)
    for _ in range(3):
        await limiter.admit(call(sub_rate=(1, 1), quota=(2, None)))
    await limiter.admit(call(tool="t2", tool_rate=(1, 1)))
    await limiter.admit(call(tool="t2", tool_rate=(1, 1)))
    assert await limiter.quota_usage("gold", NOW) == (1, 1)
    name = "giru_limit_rejections_total"
    assert sample(metrics, name, limit="subscription") == 2
    assert sample(metrics, name, limit="tool") == 1
    assert sample(metrics, name, limit="quota_day") == 0
    await limiter.aclose()


async def test_local_reconcile_seeds_a_quota_that_then_denies() -> None:
    limiter = LocalLimiter(clock=FakeClock())
    await limiter.reconcile({"gold": (100, 100)}, NOW)
    denied = await limiter.admit(call(quota=(100, None)))
    assert (denied.reason, denied.day_used) == ("quota_exceeded", 100)


def test_counters_of_past_days_are_dropped() -> None:
    limiter = LocalLimiter(clock=FakeClock())
    limiter.decide(call(quota=(100, None)))
    limiter.decide(call(NOW + timedelta(days=1), quota=(100, None)))
    assert limiter.usage("gold", NOW + timedelta(days=1)) == (1, 2)
    assert limiter.usage("gold", NOW) == (0, 2)  # yesterday's count is gone, the month's stays


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris"])
def test_a_request_without_limits_is_allowed(zone: str) -> None:
    limiter = LocalLimiter(zone, clock=FakeClock())
    request = admission_for(None, None, "agent", None, "t", None, None, NOW)
    assert [limiter.decide(request).allowed for _ in range(1000)] == [True] * 1000
