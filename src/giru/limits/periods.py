"""Calendar quota periods (day, month) in the tenant's time zone, and the counters' keys.

A day runs from local midnight to the next local midnight, so it lasts 23 or 25 hours across a
DST change; a month from the 1st at midnight. Periods are computed once per day per limiter and
reused while `now` stays inside the cached day (a float comparison per call).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from giru.limits.admission import QUOTA_KEY_PREFIX, QuotaPeriod

__all__ = ["EXPIRY_MARGIN_S", "Calendar", "Periods", "quota_keys"]

EXPIRY_MARGIN_S: Final = 86_400
"""Counters outlive their period by this much (late reconciles, skewed workers' clocks)."""


@dataclass(frozen=True, slots=True)
class Periods:
    """The day and month holding an instant: labels (`YYYYMMDD`, `YYYYMM`) and bounds in Unix
    seconds (`start` is the day's start)."""

    day: str
    month: str
    start: float
    day_end: float
    month_end: float

    @property
    def day_expire_at(self) -> int:
        """Unix time (s) at which the day counter may go: the day's end plus a margin."""
        return math.ceil(self.day_end) + EXPIRY_MARGIN_S

    @property
    def month_expire_at(self) -> int:
        return math.ceil(self.month_end) + EXPIRY_MARGIN_S

    def retry_after_ms(self, period: QuotaPeriod, timestamp: float) -> int:
        """Milliseconds from `timestamp` until `period` resets (at least 1)."""
        end = self.day_end if period == "day" else self.month_end
        return max(1, math.ceil((end - timestamp) * 1000))


def quota_keys(subscription: str, periods: Periods) -> tuple[str, str]:
    """The day and month counter keys of `subscription`."""
    prefix = f"{QUOTA_KEY_PREFIX}{subscription}:"
    return f"{prefix}d:{periods.day}", f"{prefix}m:{periods.month}"


class Calendar:
    """Maps instants to `Periods` in one time zone (an IANA name such as `Europe/Paris`)."""

    def __init__(self, timezone: str) -> None:
        try:
            self._zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {timezone!r}") from exc
        self._cached: Periods | None = None

    @property
    def timezone(self) -> str:
        return self._zone.key

    def periods(self, now: datetime) -> Periods:
        """The periods holding `now` (aware)."""
        timestamp = now.timestamp()
        cached = self._cached
        if cached is not None and cached.start <= timestamp < cached.day_end:
            return cached
        periods = self._compute(now.astimezone(self._zone).date())
        self._cached = periods
        return periods

    def _compute(self, day: date) -> Periods:
        month_next = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        return Periods(
            day=f"{day.year:04d}{day.month:02d}{day.day:02d}",
            month=f"{day.year:04d}{day.month:02d}",
            start=self._midnight(day),
            day_end=self._midnight(day + timedelta(days=1)),
            month_end=self._midnight(month_next),
        )

    def _midnight(self, day: date) -> float:
        # A midnight skipped by a DST jump resolves (fold=0) to the instant of the jump.
        return datetime.combine(day, time(), tzinfo=self._zone).timestamp()
