"""Rate limits (GCRA) and calendar quotas for tools/calls: in process or shared through Redis."""

from giru.limits.admission import (
    Admission,
    AdmissionRequest,
    Limit,
    Limiter,
    LimitKind,
    QuotaLimit,
    QuotaPeriod,
    Rate,
    Reason,
    Source,
    admission_for,
    default_burst,
)
from giru.limits.local import LocalLimiter
from giru.limits.metrics import LimiterMetrics
from giru.limits.periods import Calendar, Periods
from giru.limits.remote import RedisLimiter, open_limiter

__all__ = [
    "Admission",
    "AdmissionRequest",
    "Calendar",
    "Limit",
    "LimitKind",
    "Limiter",
    "LimiterMetrics",
    "LocalLimiter",
    "Periods",
    "QuotaLimit",
    "QuotaPeriod",
    "Rate",
    "Reason",
    "RedisLimiter",
    "Source",
    "admission_for",
    "default_burst",
    "open_limiter",
]
