"""Building admission requests from the data path's plain values."""

from __future__ import annotations

from datetime import datetime

import pytest

from giru.limits import Limit, QuotaLimit, admission_for, default_burst
from tests.unit.limits.tables import NOW


def test_every_given_limit_is_keyed_by_its_kind() -> None:
    request = admission_for(
        "gold", (10, 20), "agent", (5, None), "crm__find", (2, 4), (100, 1000), NOW
    )
    assert request.limits == (
        Limit("giru:rl:sub:gold", "subscription", 10, 20),
        Limit("giru:rl:client:agent", "client", 5, 5),
        Limit("giru:rl:tool:gold:crm__find", "tool", 2, 4),
    )
    assert request.quota == QuotaLimit("gold", 100, 1000)
    assert request.now is NOW


def test_without_limits_the_request_is_empty() -> None:
    request = admission_for(None, None, "agent", None, "crm__find", None, None, NOW)
    assert (request.limits, request.quota) == ((), None)


def test_a_quota_without_any_period_limit_is_no_quota() -> None:
    assert admission_for("gold", None, "a", None, "t", None, (None, None), NOW).quota is None
    quota = admission_for("gold", None, "a", None, "t", None, (None, 30), NOW).quota
    assert quota == QuotaLimit("gold", None, 30)


@pytest.mark.parametrize(("rps", "burst"), [(0.2, 1), (1, 1), (1.5, 2), (5, 5), (1000, 1000)])
def test_the_default_burst_is_the_rate_rounded_up(rps: float, burst: int) -> None:
    assert default_burst(rps) == burst
    assert (
        admission_for(None, None, "a", (rps, None), "t", None, None, NOW).limits[0].burst == burst
    )


def test_requests_for_the_same_values_share_their_limits() -> None:
    first = admission_for("gold", (10, None), "agent", None, "t", None, None, NOW)
    second = admission_for("gold", (10, None), "agent", None, "t", None, None, NOW)
    assert first.limits is second.limits


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tool_rate": (1, None)}, "needs a subscription"),
        ({"quota": (10, None)}, "needs a subscription"),
        ({"client_rate": (0, None)}, "rate must be > 0"),
        ({"client_rate": (-1, None)}, "rate must be > 0"),
        ({"client_rate": (float("nan"), None)}, "rate must be > 0"),
        ({"client_rate": (float("inf"), None)}, "rate must be > 0"),
        ({"client_rate": (1, 0)}, "burst must be >= 1"),
        ({"now": datetime(2025, 1, 1)}, "timezone-aware"),
    ],
)
def test_invalid_values_are_refused(kwargs: dict[str, object], message: str) -> None:
    values: dict[str, object] = {
        "subscription": None,
        "sub_rate": None,
        "client": "agent",
        "client_rate": None,
        "tool": "t",
        "tool_rate": None,
        "quota": None,
        "now": NOW,
    }
    with pytest.raises(ValueError, match=message):
        admission_for(**{**values, **kwargs})  # type: ignore[arg-type]  # table of bad values
