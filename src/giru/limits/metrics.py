"""Prometheus counters of the limiters, registered on the registry the app passes in.

`giru_limiter_unavailable_total` counts failed Redis attempts (error or timeout);
`giru_limiter_fallback_total{kind}` counts admissions answered without Redis (`kind` = `rate`
for the rate limits, `quota` for the quotas: local counters or fail-closed);
`giru_limit_rejections_total{limit}` counts calls denied by a limit (`subscription`, `client`,
`tool`, `quota_day`, `quota_month`, `quota_unavailable`). Labelled children are made once.
"""

from __future__ import annotations

from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter

from giru.limits.admission import Admission

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
        self._fallback = {kind: self.fallback.labels(kind) for kind in ("rate", "quota")}
        self._rejections = {label: self.rejections.labels(label) for label in _REJECTION_LABELS}

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
