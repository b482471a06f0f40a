"""Prometheus counters of the limiters, registered on the registry the app passes in.

`giru_limiter_unavailable_total` counts failed Redis attempts (error or timeout);
`giru_limiter_fallback_total{kind}` counts admissions answered without Redis (`kind` = `rate`
for the rate limits, `quota` for the quotas: local counters or fail-closed);
`giru_limit_rejections_total{limit}` counts calls denied by a limit (`subscription`, `client`,
`tool`, `quota_day`, `quota_month`, `quota_unavailable`);
`giru_limiter_redis_duration_seconds{result}` times each Redis admission round trip (`ok` or
`error`, timeouts included); `giru_limiter_redis_available` is 0 during an outage (admissions
answered locally). Labelled children are made once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from giru.limits.admission import Admission
from giru.telemetry.metrics import LATENCY_BUCKETS

__all__ = ["FallbackKind", "LimiterMetrics"]

FallbackKind = Literal["rate", "quota"]

_REJECTION_LABELS: Final = (
    "subscription",
    "client",
    "tool",
    "quota_day",
    "quota_month",
    "quota_unavailable",
)


class LimiterMetrics:
    """The limiter counters on `registry` (a fresh one when None, e.g. in tests)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.unavailable = Counter(
            "giru_limiter_unavailable_total",
            "Redis limiter attempts that failed (error or timeout); the local fallback answered.",
            registry=self.registry,
        )
        self.fallback = Counter(
            "giru_limiter_fallback_total",
            "Admissions decided without Redis, by kind (rate limits, quotas).",
            ["kind"],
            registry=self.registry,
        )
        self.rejections = Counter(
            "giru_limit_rejections_total",
            "Calls denied by a rate limit or quota, by limit.",
            ["limit"],
            registry=self.registry,
        )
        self.redis_duration = Histogram(
            "giru_limiter_redis_duration_seconds",
            "Redis admission round trips (one per limited call), by result: ok, error.",
            ["result"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._redis = {result: self.redis_duration.labels(result) for result in ("ok", "error")}
        self._fallback = {kind: self.fallback.labels(kind) for kind in ("rate", "quota")}
        self._rejections = {label: self.rejections.labels(label) for label in _REJECTION_LABELS}

    def watch_redis(self, available: Callable[[], bool]) -> None:
        """Export `giru_limiter_redis_available` (only a limiter with Redis has it)."""
        gauge = Gauge(
            "giru_limiter_redis_available",
            "1 while the Redis limiter answers; 0 during an outage (local fallback).",
            registry=self.registry,
        )
        gauge.set_function(lambda: 1.0 if available() else 0.0)

    def redis_round_trip(self, seconds: float, *, ok: bool) -> None:
        self._redis["ok" if ok else "error"].observe(seconds)

    def fell_back(self, kind: FallbackKind) -> None:
        self._fallback[kind].inc()

    def rejected(self, admission: Admission) -> None:
        """Counts a denial under its limit."""
        label: str
        if admission.reason == "rate_limited":
            label = str(admission.limit)
        elif admission.reason == "quota_exceeded":
            label = f"quota_{admission.limit}"
        else:
            label = "quota_unavailable"
        self._rejections[label].inc()
