"""What one tools/call asks of the limiters, what they answer, and the `Limiter` seam.

Plain slotted dataclasses (no pydantic: this runs per call). `admission_for` names the keys:
`giru:rl:sub:{subscription}`, `giru:rl:client:{client}`, `giru:rl:tool:{subscription}:{tool}`;
quota counters are keyed by the limiter (`giru:quota:{subscription}:d:{YYYYMMDD}` / `:m:{YYYYMM}`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, Protocol

__all__ = [
    "Admission",
    "AdmissionRequest",
    "Limit",
    "LimitKind",
    "Limiter",
    "QuotaLimit",
    "QuotaPeriod",
    "Rate",
    "Reason",
    "Source",
    "admission_for",
    "default_burst",
]

LimitKind = Literal["subscription", "client", "tool"]
QuotaPeriod = Literal["day", "month"]
Reason = Literal["rate_limited", "quota_exceeded", "quota_unavailable"]
Source = Literal["redis", "local"]
Rate = tuple[float, int | None]
"""(requests per second, burst or None for the default)."""

RATE_KEY_PREFIX: Final = "giru:rl:"
QUOTA_KEY_PREFIX: Final = "giru:quota:"


@dataclass(frozen=True, slots=True)
class Limit:
    """One GCRA rate limit: `rps` sustained, `burst` calls at once (the bucket size)."""

    key: str
    kind: LimitKind
    rps: float
    burst: int


@dataclass(frozen=True, slots=True)
class QuotaLimit:
    """Calendar quotas of a subscription; None = no limit for that period (still counted)."""

    subscription: str
    per_day: int | None
    per_month: int | None


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    """Everything one admission checks, at `now` (an aware datetime; picks the quota periods)."""

    limits: tuple[Limit, ...]
    quota: QuotaLimit | None
    now: datetime


@dataclass(frozen=True, slots=True)
class Admission:
    """A limiter's answer.

    Allowed: `day_used`/`month_used` are the quota counts after this call (None without a quota).
    Denied: `reason`; `limit` is the rate limit kind (`rate_limited`) or the quota period
    (`quota_exceeded`; None for `quota_unavailable`); `value` the limit's rps or quota;
    `retry_after_ms` when a retry can succeed (ms to the period's end for quotas).
    """

    allowed: bool
    source: Source
    reason: Reason | None = None
    limit: LimitKind | QuotaPeriod | None = None
    value: float = 0
    retry_after_ms: int = 0
    day_used: int | None = None
    month_used: int | None = None


class Limiter(Protocol):
    """Admits tools/calls against rate limits and quotas, atomically: a denied call consumes
    nothing, an admitted one takes a token from every limit and counts in every quota period."""

    async def admit(self, request: AdmissionRequest) -> Admission:
        """Decides one call; never raises (an unavailable backend has a fallback)."""
        ...

    async def quota_usage(self, subscription: str, now: datetime) -> tuple[int, int]:
        """Admitted calls counted for `subscription` in the day and month holding `now`."""
        ...

    async def reconcile(self, counts: Mapping[str, tuple[int, int]], now: datetime) -> None:
        """Raises quota counters of the periods holding `now` to at least `counts`
        (subscription → (day, month), from the usage table); never lowers one. Never raises."""
        ...

    async def aclose(self) -> None:
        """Releases connections. Idempotent."""
        ...


def default_burst(rps: float) -> int:
    """The bucket size when none is configured: max(1, ceil(rps))."""
    return max(1, math.ceil(rps))


def admission_for(
    subscription: str | None,
    sub_rate: Rate | None,
    client: str,
    client_rate: Rate | None,
    tool: str,
    tool_rate: Rate | None,
    quota: tuple[int | None, int | None] | None,
    now: datetime,
) -> AdmissionRequest:
    """The request for one call. Rates and quota apply only when given; a tool rate and a quota
    belong to a subscription (ValueError without one). `now` must be timezone-aware."""
    if subscription is None and (tool_rate is not None or quota is not None):
        raise ValueError("a tool rate limit or a quota needs a subscription")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    limits = _limits(subscription, sub_rate, client, client_rate, tool, tool_rate)
    quota_limit = None
    if quota is not None and subscription is not None:
        quota_limit = _quota(subscription, quota[0], quota[1])
    return AdmissionRequest(limits, quota_limit, now)


@functools.lru_cache(maxsize=4096)
def _limits(
    subscription: str | None,
    sub_rate: Rate | None,
    client: str,
    client_rate: Rate | None,
    tool: str,
    tool_rate: Rate | None,
) -> tuple[Limit, ...]:
    limits: list[Limit] = []
    if sub_rate is not None:
        limits.append(_limit(f"{RATE_KEY_PREFIX}sub:{subscription}", "subscription", sub_rate))
    if client_rate is not None:
        limits.append(_limit(f"{RATE_KEY_PREFIX}client:{client}", "client", client_rate))
    if tool_rate is not None:
        limits.append(_limit(f"{RATE_KEY_PREFIX}tool:{subscription}:{tool}", "tool", tool_rate))
    return tuple(limits)


def _limit(key: str, kind: LimitKind, rate: Rate) -> Limit:
    rps, burst = rate
    if not 0 < rps < math.inf:
        raise ValueError(f"{kind} rate must be > 0 and finite, got {rps}")
    if burst is not None and burst < 1:
        raise ValueError(f"{kind} burst must be >= 1, got {burst}")
    return Limit(key, kind, float(rps), default_burst(rps) if burst is None else burst)


@functools.lru_cache(maxsize=1024)
def _quota(subscription: str, per_day: int | None, per_month: int | None) -> QuotaLimit | None:
    if per_day is None and per_month is None:
        return None
    return QuotaLimit(subscription, per_day, per_month)
