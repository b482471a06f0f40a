"""The in-process limiter: exact for one process (embedded mode), and Redis's fallback.

Atomic by construction: `decide` checks every rate limit and quota, then applies them all, with
no await in between (one event loop). Rate limits use a monotonic clock (nanoseconds,
injectable); quota periods come from the request's `now` in the configured time zone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Final

from giru.limits.admission import (
    Admission,
    AdmissionRequest,
    Limit,
    QuotaLimit,
    QuotaPeriod,
    Source,
)
from giru.limits.gcra import GcraTable
from giru.limits.metrics import LimiterMetrics
from giru.limits.periods import Calendar, Periods, quota_keys

__all__ = ["LocalLimiter", "QuotaCounters", "quota_denial", "rate_denial"]

_ALLOWED: Final = Admission(True, "local")


class QuotaCounters:
    """Admitted calls per subscription in the current day and month, keyed like Redis. Counters
    of past periods are dropped when the day changes."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._periods: Periods | None = None

    def keys(self, subscription: str, periods: Periods) -> tuple[str, str]:
        if periods is not self._periods:
            self._roll(periods)
        return quota_keys(subscription, periods)

    def get(self, keys: tuple[str, str]) -> tuple[int, int]:
        counts = self._counts
        return counts.get(keys[0], 0), counts.get(keys[1], 0)

    def add(self, keys: tuple[str, str]) -> tuple[int, int]:
        counts = self._counts
        day = counts[keys[0]] = counts.get(keys[0], 0) + 1
        month = counts[keys[1]] = counts.get(keys[1], 0) + 1
        return day, month

    def raise_to(self, keys: tuple[str, str], day: int, month: int) -> None:
        """Raises the two counters to at least `day` and `month`."""
        counts = self._counts
        for key, value in ((keys[0], day), (keys[1], month)):
            if value > counts.get(key, 0):
                counts[key] = value

    def _roll(self, periods: Periods) -> None:
        self._periods = periods
        current = (f":d:{periods.day}", f":m:{periods.month}")
        self._counts = {k: v for k, v in self._counts.items() if k.endswith(current)}


def rate_denial(limit: Limit, wait_us: int, source: Source) -> Admission:
    """The denial by `limit`, retryable after `wait_us` (rounded up to ms)."""
    return Admission(False, source, "rate_limited", limit.kind, limit.rps, -(-wait_us // 1000))


def quota_denial(
    quota: QuotaLimit, used: tuple[int, int], periods: Periods, now: datetime, source: Source
) -> Admission | None:
    """The denial when a quota is used up (day first), else None."""
    day, month = used
    period: QuotaPeriod
    if quota.per_day is not None and day >= quota.per_day:
        period, value = "day", quota.per_day
    elif quota.per_month is not None and month >= quota.per_month:
        period, value = "month", quota.per_month
    else:
        return None
    return Admission(
        False,
        source,
        "quota_exceeded",
        period,
        value,
        periods.retry_after_ms(period, now.timestamp()),
        day,
        month,
    )


class LocalLimiter:
    """GCRA per key in memory (at most `max_keys` keys) and quota counters per subscription."""

    def __init__(
        self,
        timezone: str = "UTC",
        *,
        max_keys: int = 100_000,
        clock: Callable[[], int] = time.monotonic_ns,
        metrics: LimiterMetrics | None = None,
    ) -> None:
        self.calendar = Calendar(timezone)
        self._rates = GcraTable(max_keys)
        self._quotas = QuotaCounters()
        self._clock = clock
        self._metrics = metrics

    @property
    def tracked_keys(self) -> int:
        """How many rate-limit keys hold state now (at most `max_keys`)."""
        return len(self._rates)

    def decide(self, request: AdmissionRequest) -> Admission:
        """Admits or denies `request` now, without counting metrics (Redis's fallback uses it)."""
        limits = request.limits
        planned, worst, wait = self._rates.plan(limits, self._clock() // 1000)
        quota = request.quota
        keys = None
        if quota is not None:
            periods = self.calendar.periods(request.now)
            keys = self._quotas.keys(quota.subscription, periods)
            denial = quota_denial(quota, self._quotas.get(keys), periods, request.now, "local")
            if denial is not None:
                return denial
        if worst >= 0:
            return rate_denial(limits[worst], wait, "local")
        self._rates.commit(limits, planned)
        if keys is None:
            return _ALLOWED
        day, month = self._quotas.add(keys)
        return Admission(True, "local", day_used=day, month_used=month)

    def raise_quota(self, subscription: str, now: datetime, day: int, month: int) -> None:
        """Raises `subscription`'s counters for the periods holding `now` (never lowers)."""
        keys = self._quotas.keys(subscription, self.calendar.periods(now))
        self._quotas.raise_to(keys, day, month)

    def usage(self, subscription: str, now: datetime) -> tuple[int, int]:
        return self._quotas.get(self._quotas.keys(subscription, self.calendar.periods(now)))

    async def admit(self, request: AdmissionRequest) -> Admission:
        admission = self.decide(request)
        if self._metrics is not None and not admission.allowed:
            self._metrics.rejected(admission)
        return admission

    async def quota_usage(self, subscription: str, now: datetime) -> tuple[int, int]:
        return self.usage(subscription, now)

    async def reconcile(self, counts: Mapping[str, tuple[int, int]], now: datetime) -> None:
        for subscription, (day, month) in counts.items():
            self.raise_quota(subscription, now, day, month)

    async def aclose(self) -> None:
        return None
