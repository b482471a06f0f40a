"""The limiter shared by gateway workers through Redis, with a local fallback; `open_limiter`.

One `ADMIT` script call per admission (EVALSHA, one round trip, on the lean `RespClient`). Any
Redis error or timeout (`redis_timeout_s` per call, a connect included; no retries) is answered
by the in-process `LocalLimiter`: rate limits always, quotas from its counters
(`quota_fallback=local`; seeded by `reconcile` and by every Redis answer) or denied (`deny`).
After a failure Redis is not tried for `cool_down_s`. One warning per outage,
`giru_limiter_unavailable_total` per failed attempt, `giru_limiter_fallback_total{kind}` per
admission answered locally. Nothing here raises.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Final
from urllib.parse import urlsplit

import structlog
from prometheus_client import CollectorRegistry

from giru.limits.admission import (
    Admission,
    AdmissionRequest,
    Limiter,
    QuotaLimit,
    QuotaPeriod,
)
from giru.limits.gcra import interval_us
from giru.limits.local import LocalLimiter, rate_denial
from giru.limits.lua import ADMIT, ADMIT_ALLOWED, ADMIT_DAY, ADMIT_RATE, RECONCILE, Script
from giru.limits.metrics import LimiterMetrics
from giru.limits.periods import Periods, quota_keys
from giru.limits.resp import RespClient
from giru.settings import LimitsSettings

__all__ = ["RedisLimiter", "open_limiter"]

_log = structlog.get_logger(__name__)

_ALLOWED: Final = Admission(True, "redis")
_RECONCILE_BATCH: Final = 256  # subscriptions per script call: keeps each call short
_NO_LIMITS: Final = Admission(True, "local")


class _Outage:
    """Whether Redis is being skipped: from a failure until `cool_down_s` later; logs once per
    outage (when it starts and when Redis answers again)."""

    def __init__(self, cool_down_s: float, clock: Callable[[], float], where: str) -> None:
        self._cool_down = cool_down_s
        self._clock = clock
        self._where = where
        self._since: float | None = None
        self._until = 0.0

    @property
    def down(self) -> bool:
        return self._since is not None

    def skipping(self) -> bool:
        return self._since is not None and self._clock() < self._until

    def failed(self, exc: BaseException) -> None:
        now = self._clock()
        self._until = now + self._cool_down
        if self._since is None:
            self._since = now
            _log.warning(
                "limiter lost redis; using the local limiter",
                error=repr(exc),
                redis=self._where,
                cool_down_s=self._cool_down,
            )

    def recovered(self) -> None:
        if self._since is not None:
            outage = self._clock() - self._since
            self._since = None
            _log.info("limiter back on redis", outage_s=round(outage, 3), redis=self._where)


class RedisLimiter:
    """Rate limits and quotas in Redis (keys `giru:rl:…`, `giru:quota:…`), shared by workers.

    `clock` (monotonic seconds) times the cool-down; `server_clock_us`, for tests only, replaces
    Redis `TIME` in the script with the given µs.
    """

    def __init__(
        self,
        url: str,
        settings: LimitsSettings,
        *,
        metrics: LimiterMetrics | None = None,
        local: LocalLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
        server_clock_us: Callable[[], int] | None = None,
    ) -> None:
        self.metrics = metrics if metrics is not None else LimiterMetrics()
        if local is None:
            local = LocalLimiter(settings.timezone, max_keys=settings.local_max_keys)
        self._local = local
        self._calendar = self._local.calendar
        self._deny_quota = settings.quota_fallback == "deny"
        self._unavailable_ms = max(1, math.ceil(settings.cool_down_s * 1000))
        self._outage = _Outage(settings.cool_down_s, clock, _without_credentials(url))
        self._server_clock = server_clock_us
        self._admit_script = Script(ADMIT)
        self._reconcile_script = Script(RECONCILE)
        # No retries: a retry would double the wait on the request path.
        self._client = RespClient(url, timeout_s=settings.redis_timeout_s)
        self.metrics.watch_redis(lambda: self.using_redis)

    @property
    def using_redis(self) -> bool:
        """False during an outage (from a failure until Redis answers again)."""
        return not self._outage.down

    async def admit(self, request: AdmissionRequest) -> Admission:
        if not request.limits and request.quota is None:
            return _NO_LIMITS
        if self._outage.skipping():
            admission = self._fallback(request)
        else:
            started = time.perf_counter()
            try:
                admission = await self._admit(request)
            except Exception as exc:  # noqa: BLE001 -- never raise into the data path; logged
                self.metrics.redis_round_trip(time.perf_counter() - started, ok=False)
                self._failed(exc)
                admission = self._fallback(request)
            else:
                self.metrics.redis_round_trip(time.perf_counter() - started, ok=True)
                self._outage.recovered()
        if not admission.allowed:
            self.metrics.rejected(admission)
        return admission

    async def _admit(self, request: AdmissionRequest) -> Admission:
        """One `ADMIT` call; raises what Redis raises."""
        limits, quota = request.limits, request.quota
        keys = [limit.key for limit in limits]
        clock = self._server_clock
        params = " ".join([f"{interval_us(limit.rps)} {limit.burst}" for limit in limits])
        args: list[str | int] = ["" if clock is None else clock(), params]
        if quota is None:
            reply = await self._admit_script(self._client, keys, args)
            if reply[0] == ADMIT_ALLOWED:
                return _ALLOWED
            return rate_denial(limits[reply[1] - 1], reply[2], "redis")
        periods = self._calendar.periods(request.now)
        keys += quota_keys(quota.subscription, periods)
        args += (
            -1 if quota.per_day is None else quota.per_day,
            -1 if quota.per_month is None else quota.per_month,
            periods.day_expire_at,
            periods.month_expire_at,
        )
        reply = await self._admit_script(self._client, keys, args)
        return self._quota_answer(request, quota, periods, reply)

    def _quota_answer(
        self, request: AdmissionRequest, quota: QuotaLimit, periods: Periods, reply: list[int]
    ) -> Admission:
        status, index, wait, day, month = reply
        self._local.raise_quota(quota.subscription, request.now, day, month)  # for a fallback
        if status == ADMIT_ALLOWED:
            return Admission(True, "redis", day_used=day, month_used=month)
        if status == ADMIT_RATE:
            return rate_denial(request.limits[index - 1], wait, "redis")
        period: QuotaPeriod = "day" if status == ADMIT_DAY else "month"
        value = quota.per_day if period == "day" else quota.per_month
        retry_ms = periods.retry_after_ms(period, request.now.timestamp())
        return Admission(False, "redis", "quota_exceeded", period, value or 0, retry_ms, day, month)

    def _fallback(self, request: AdmissionRequest) -> Admission:
        if request.quota is not None:
            self.metrics.fell_back("quota")
            if self._deny_quota:
                return Admission(
                    False, "local", "quota_unavailable", retry_after_ms=self._unavailable_ms
                )
        if request.limits:
            self.metrics.fell_back("rate")
        return self._local.decide(request)

    def _failed(self, exc: BaseException) -> None:
        self.metrics.unavailable.inc()
        self._outage.failed(exc)

    async def quota_usage(self, subscription: str, now: datetime) -> tuple[int, int]:
        if not self._outage.skipping():
            keys = quota_keys(subscription, self._calendar.periods(now))
            try:
                day, month = await self._client.execute("MGET", *keys)
            except Exception as exc:  # noqa: BLE001 -- answered from the local counters; logged
                self._failed(exc)
            else:
                self._outage.recovered()
                used = (int(day or 0), int(month or 0))
                self._local.raise_quota(subscription, now, *used)
                return used
        return self._local.usage(subscription, now)

    async def reconcile(self, counts: Mapping[str, tuple[int, int]], now: datetime) -> None:
        await self._local.reconcile(counts, now)
        if self._outage.skipping():
            return
        periods = self._calendar.periods(now)
        items = list(counts.items())
        try:
            for start in range(0, len(items), _RECONCILE_BATCH):
                keys: list[str] = []
                args: list[str | int] = []
                for subscription, (day, month) in items[start : start + _RECONCILE_BATCH]:
                    keys += quota_keys(subscription, periods)
                    args += (day, periods.day_expire_at, month, periods.month_expire_at)
                await self._reconcile_script(self._client, keys, args)
        except Exception as exc:  # noqa: BLE001 -- the local counters hold the counts; logged
            self._failed(exc)
        else:
            self._outage.recovered()

    async def aclose(self) -> None:
        await self._client.aclose()


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def open_limiter(
    redis_url: str | None,
    settings: LimitsSettings,
    registry: CollectorRegistry | None = None,
) -> Limiter:
    """A `RedisLimiter` on `redis_url` (with a local fallback), or a `LocalLimiter` without one;
    metrics on `registry` (the app passes `Metrics().registry`)."""
    metrics = LimiterMetrics(registry)
    local = LocalLimiter(settings.timezone, max_keys=settings.local_max_keys, metrics=metrics)
    if not redis_url:
        return local
    return RedisLimiter(redis_url, settings, metrics=metrics, local=local)
