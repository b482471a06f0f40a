"""The fast path's plan: when a call's arguments leave the decision asked with empty arguments
unchanged (a sufficient condition, never more)."""

from __future__ import annotations

from typing import Any

import pytest

from giru.policy.fast_path import DecisionCache, FastPlan, fast_plan

PLAN = FastPlan(bytes_at_most=100, pii_free=True, absent=frozenset({"record_count", "fields"}))


@pytest.mark.parametrize(
    ("arguments", "size", "holds"),
    [
        ({}, 0, True),
        ({"text": "hello", "ok": True, "n": 12.5, "none": None}, 40, True),
        ({"text": "hello"}, 101, False),
        ({"record_count": 3}, 20, False),
        ({"text": "room 7"}, 20, False),
        ({"to": "a@b"}, 20, False),
        ({"deep": {"list": [{"x": "4111"}]}}, 30, False),
        ({"card": 4111111111111111}, 30, False),
        ({"small": 999_999_999_999}, 30, True),
        ({"flag": True}, 20, True),
        ({"arabic": "\u0663"}, 20, True),  # not an ASCII digit: no detector matches it
    ],
)
def test_a_plan_holds_only_for_arguments_it_covers(
    arguments: dict[str, Any], size: int, holds: bool
) -> None:
    assert PLAN.holds(arguments, size) is holds


def test_a_plan_without_pii_or_limit_ignores_values() -> None:
    plan = FastPlan(bytes_at_most=None, pii_free=False, absent=frozenset())
    assert plan.holds({"card": "4111 1111 1111 1111"}, 10**9)


def test_plans_come_from_opa_s_answer() -> None:
    answer = {"bytes_at_most": 10, "pii_free": False, "absent": ["fields"], "clock": False}
    assert fast_plan(answer) == FastPlan(10, False, frozenset({"fields"}))
    assert fast_plan({**answer, "bytes_at_most": None}) == FastPlan(
        None, False, frozenset({"fields"})
    )


@pytest.mark.parametrize(
    "answer",
    [
        None,
        [],
        {"bytes_at_most": 10, "pii_free": False, "absent": [], "clock": True},
        {"bytes_at_most": 10, "pii_free": False, "absent": []},
        {"bytes_at_most": "10", "pii_free": False, "absent": [], "clock": False},
        {"bytes_at_most": True, "pii_free": False, "absent": [], "clock": False},
        {"bytes_at_most": 10, "pii_free": "no", "absent": [], "clock": False},
        {"bytes_at_most": 10, "pii_free": False, "absent": "fields", "clock": False},
        {"bytes_at_most": 10, "pii_free": False, "absent": [1], "clock": False},
    ],
)
def test_no_plan_when_the_clock_is_read_or_the_answer_is_not_one(answer: Any) -> None:
    assert fast_plan(answer) is None


def test_the_oldest_decision_makes_room_when_the_cache_is_full() -> None:
    cache = DecisionCache(capacity=2)
    for key in (b"a", b"b", b"c"):
        cache.put(key, None, {"allow": True})
    assert cache.get(b"a") is None
    assert cache.get(b"c") is not None
    cache.clear()
    assert cache.get(b"c") is None
