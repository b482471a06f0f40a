"""Calendar quota periods in a time zone: midnight, month and year ends, DST days."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from giru.limits import Calendar
from giru.limits.periods import EXPIRY_MARGIN_S, quota_keys


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "now", "day", "month"),
    [
        ("UTC", utc(2025, 1, 15, 10), "20250115", "202501"),
        ("Europe/Paris", utc(2025, 1, 15, 22, 59, 59), "20250115", "202501"),
        ("Europe/Paris", utc(2025, 1, 15, 23), "20250116", "202501"),  # local midnight
        ("Europe/Paris", utc(2025, 1, 31, 22, 59, 59), "20250131", "202501"),
        ("Europe/Paris", utc(2025, 1, 31, 23), "20250201", "202502"),  # month end
        ("Europe/Paris", utc(2024, 12, 31, 23, 30), "20250101", "202501"),  # year end
        ("UTC", utc(2024, 12, 31, 23, 30), "20241231", "202412"),
        ("Europe/Paris", utc(2025, 6, 30, 21, 59, 59), "20250630", "202506"),  # summer: UTC+2
        ("Europe/Paris", utc(2025, 6, 30, 22), "20250701", "202507"),
        ("Asia/Tokyo", utc(2025, 1, 15, 15), "20250116", "202501"),
        ("America/Los_Angeles", utc(2025, 2, 1, 7, 59), "20250131", "202501"),
    ],
)
def test_the_day_and_month_are_those_of_the_time_zone(
    zone: str, now: datetime, day: str, month: str
) -> None:
    periods = Calendar(zone).periods(now)
    assert (periods.day, periods.month) == (day, month)


@pytest.mark.parametrize(
    ("zone", "now", "start", "day_end", "month_end"),
    [
        ("UTC", utc(2025, 1, 15, 10), utc(2025, 1, 15), utc(2025, 1, 16), utc(2025, 2, 1)),
        (  # spring forward: a 23-hour day, and March ends at CEST midnight
            "Europe/Paris",
            utc(2025, 3, 30, 12),
            utc(2025, 3, 29, 23),
            utc(2025, 3, 30, 22),
            utc(2025, 3, 31, 22),
        ),
        (  # fall back: a 25-hour day
            "Europe/Paris",
            utc(2025, 10, 26, 12),
            utc(2025, 10, 25, 22),
            utc(2025, 10, 26, 23),
            utc(2025, 10, 31, 23),
        ),
        (  # December rolls into January of the next year
            "Europe/Paris",
            utc(2025, 12, 31, 12),
            utc(2025, 12, 30, 23),
            utc(2025, 12, 31, 23),
            utc(2025, 12, 31, 23),
        ),
        (  # midnight does not exist (clocks jump 00:00 -> 01:00): the day starts at the jump
            "America/Santiago",
            utc(2022, 9, 11, 12),
            utc(2022, 9, 11, 4),
            utc(2022, 9, 12, 3),
            utc(2022, 10, 1, 3),
        ),
    ],
)
def test_period_bounds_follow_local_midnights_across_dst(
    zone: str, now: datetime, start: datetime, day_end: datetime, month_end: datetime
) -> None:
    periods = Calendar(zone).periods(now)
    assert periods.start == start.timestamp()
    assert periods.day_end == day_end.timestamp()
    assert periods.month_end == month_end.timestamp()


def test_retry_after_is_the_time_left_in_the_period() -> None:
    now = datetime(2025, 1, 15, 22, 59, 59, 500_000, tzinfo=UTC)
    periods = Calendar("Europe/Paris").periods(now)
    assert periods.retry_after_ms("day", now.timestamp()) == 500
    assert periods.retry_after_ms("month", now.timestamp()) == 16 * 86_400_000 + 500
    assert periods.retry_after_ms("day", periods.day_end + 5) == 1  # never 0


def test_counters_expire_a_margin_after_their_period() -> None:
    periods = Calendar("Europe/Paris").periods(utc(2025, 1, 15, 10))
    assert periods.day_expire_at == utc(2025, 1, 15, 23).timestamp() + EXPIRY_MARGIN_S
    assert periods.month_expire_at == utc(2025, 1, 31, 23).timestamp() + EXPIRY_MARGIN_S


def test_quota_keys_name_the_subscription_and_the_periods() -> None:
    periods = Calendar("UTC").periods(utc(2025, 3, 9, 10))
    assert quota_keys("gold", periods) == ("giru:quota:gold:d:20250309", "giru:quota:gold:m:202503")


def test_periods_are_reused_within_a_day_and_recomputed_after() -> None:
    calendar = Calendar("Europe/Paris")
    first = calendar.periods(utc(2025, 1, 15, 0))
    assert calendar.periods(utc(2025, 1, 15, 22, 59)) is first
    assert calendar.periods(utc(2025, 1, 15, 23)).day == "20250116"
    assert calendar.periods(utc(2025, 1, 14, 12)).day == "20250114"  # the clock went back


def test_an_aware_non_utc_now_is_converted() -> None:
    paris = Calendar("Europe/Paris")
    assert paris.timezone == "Europe/Paris"
    now = datetime.fromisoformat("2025-01-15T23:30:00-05:00")  # 05:30 in Paris on the 16th
    assert paris.periods(now).day == "20250116"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd"])
def test_an_unknown_time_zone_is_refused(zone: str) -> None:
    with pytest.raises(ValueError, match="time zone"):
        Calendar(zone)
