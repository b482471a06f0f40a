"""The fast path's plan: when a call's arguments leave the decision asked with empty arguments
unchanged (a sufficient condition, never more)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from giru.identity import Person
from giru.policy import Call
from giru.policy.fast_path import (
    DecisionCache,
    FastPlan,
    decision_key,
    fast_plan,
    fast_result,
)

PLAN = FastPlan(
    bytes_at_most=100,
    pii_free=True,
    findings_free=False,
    absent=frozenset({"record_count", "fields"}),
)
FINDINGS_PLAN = FastPlan(bytes_at_most=None, pii_free=False, findings_free=True, absent=frozenset())


def _mcp(arguments: dict[str, Any], size: int, findings: Any = None) -> dict[str, Any]:
    mcp = {"arguments": arguments, "arguments_bytes": size}
    return mcp if findings is None else {**mcp, "argument_findings": findings}


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
    assert PLAN.holds(_mcp(arguments, size)) is holds


def test_a_plan_without_pii_or_limit_ignores_values() -> None:
    plan = FastPlan(bytes_at_most=None, pii_free=False, findings_free=False, absent=frozenset())
    assert plan.holds(_mcp({"card": "4111 1111 1111 1111"}, 10**9))


@pytest.mark.parametrize(
    ("findings", "holds"),
    [
        ([], True),  # an amount and an order number: digits, but no personal data found
        ([{"kind": "pan", "path": "card"}], False),
        (None, False),  # large arguments: Giru left the finding to the policy
    ],
)
def test_a_findings_free_plan_holds_only_when_giru_found_nothing(
    findings: Any, holds: bool
) -> None:
    arguments = {"amount": 12.5, "order": "A-1042", "card": "4111 1111 1111 1111"}
    assert FINDINGS_PLAN.holds(_mcp(arguments, 60, findings)) is holds


def test_plans_come_from_opa_s_answer() -> None:
    answer = {
        "bytes_at_most": 10,
        "pii_free": False,
        "findings_free": True,
        "absent": ["fields"],
        "reads": ["record_count"],
        "clock": False,
    }
    assert fast_plan(answer) == FastPlan(
        10, False, True, frozenset({"fields"}), frozenset({"record_count"})
    )
    assert fast_plan({**answer, "bytes_at_most": None}) == FastPlan(
        None, False, True, frozenset({"fields"}), frozenset({"record_count"})
    )


_ANSWER = {
    "bytes_at_most": 10,
    "pii_free": False,
    "findings_free": False,
    "absent": [],
    "reads": [],
    "clock": False,
}


@pytest.mark.parametrize(
    "answer",
    [
        None,
        [],
        {**_ANSWER, "clock": True},
        {k: v for k, v in _ANSWER.items() if k != "clock"},
        {k: v for k, v in _ANSWER.items() if k != "findings_free"},
        {**_ANSWER, "bytes_at_most": "10"},
        {**_ANSWER, "bytes_at_most": True},
        {**_ANSWER, "pii_free": "no"},
        {**_ANSWER, "findings_free": 1},
        {**_ANSWER, "absent": "fields"},
        {**_ANSWER, "absent": [1]},
        {k: v for k, v in _ANSWER.items() if k != "reads"},
        {**_ANSWER, "reads": "record_count"},
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


CALL = Call(
    method="tools/call",
    server="files",
    target="read",
    arguments={"path": "a"},
    client="c0",
    subscription=None,
    virtual_server=None,
    request_id="r-1",
    source_ip="127.0.0.1",
    tls=False,
    time_ns=1,
    protocol_version="2025-06-18",
)


def test_calls_that_differ_only_in_arguments_request_id_and_time_share_a_decision_key() -> None:
    other = dataclasses.replace(CALL, arguments={"path": "b"}, request_id="r-2", time_ns=2)
    assert decision_key(other) == decision_key(CALL)


@pytest.mark.parametrize(
    "change",
    [
        {"method": "prompts/get"},
        {"server": "crm"},
        {"target": "write"},
        {"client": "c1"},
        {"subscription": "gold"},
        {"virtual_server": "vs"},
        {"source_ip": "10.0.0.1"},
        {"tls": True},
        {"protocol_version": "2025-11-25"},
        {"person": Person("https://idp.example", "sub-1")},
        {"agent": "cursor"},
    ],
)
def test_any_other_fact_of_a_call_gives_another_decision_key(change: dict[str, Any]) -> None:
    assert decision_key(dataclasses.replace(CALL, **change)) != decision_key(CALL)


PAN = [{"kind": "pan", "path": "card"}]
NO_VALUES: tuple[bytes | None, ...] = ()


@pytest.mark.parametrize(
    ("plan", "arguments", "size", "findings", "deciding"),
    [
        (FINDINGS_PLAN, {"card": "4111"}, 30, PAN, (frozenset({("pan", "card")}), NO_VALUES)),
        (FINDINGS_PLAN, {"card": "4111"}, 30, None, None),  # large: left to the policy
        (dataclasses.replace(FINDINGS_PLAN, pii_free=True), {"card": "4111"}, 30, PAN, None),
        (dataclasses.replace(FINDINGS_PLAN, bytes_at_most=20), {"card": "4111"}, 30, PAN, None),
        (
            dataclasses.replace(FINDINGS_PLAN, absent=frozenset({"card"})),
            {"card": "4111"},
            30,
            PAN,
            None,
        ),
        (
            dataclasses.replace(FINDINGS_PLAN, findings_free=False),
            {"card": "4111"},
            30,
            PAN,
            (frozenset(), NO_VALUES),  # no topic reads the findings
        ),
        (
            dataclasses.replace(FINDINGS_PLAN, reads=frozenset({"n", "fields"})),
            {"n": 3, "fields": {"b": 1, "a": [2]}, "other": "x"},
            30,
            [],
            (frozenset(), (b'{"a":[2],"b":1}', b"3")),
        ),
        (
            dataclasses.replace(FINDINGS_PLAN, reads=frozenset({"n"})),
            {"other": "x"},
            30,
            [],
            (frozenset(), (None,)),
        ),
        (
            dataclasses.replace(FINDINGS_PLAN, reads=frozenset({"n"})),
            {"n": "x" * 2000},
            2010,
            [],
            None,  # too large to keep
        ),
    ],
)
def test_what_decides_a_call_the_plan_does_not_hold_for(
    plan: FastPlan, arguments: dict[str, Any], size: int, findings: Any, deciding: Any
) -> None:
    assert plan.deciding(_mcp(arguments, size, findings)) == deciding


def test_findings_are_compared_by_kind_and_path_in_any_order() -> None:
    two = [{"kind": "pan", "path": "card"}, {"kind": "email", "path": "to"}]
    first = FINDINGS_PLAN.deciding(_mcp({}, 2, two))
    again = FINDINGS_PLAN.deciding(_mcp({}, 2, [two[1], two[0], two[0]]))
    other = FINDINGS_PLAN.deciding(_mcp({}, 2, [{"kind": "pan", "path": "cc"}]))
    assert first == again
    assert first != other


def test_a_plan_with_reads_holds_only_while_they_are_absent() -> None:
    plan = dataclasses.replace(FINDINGS_PLAN, reads=frozenset({"record_count"}))
    assert plan.holds(_mcp({"text": "hello"}, 20, []))
    assert not plan.holds(_mcp({"record_count": 3}, 20, []))


class _Opa:
    """Answers the fast question with a findings_free plan reading `n`, the full one with a
    counter."""

    def __init__(self) -> None:
        self.full: list[Any] = []

    async def query(self, path: str, payload: Any, *, timeout_s: float | None = None) -> Any:
        if path == "giru/decision/fast":
            plan = {**_ANSWER, "bytes_at_most": None, "findings_free": True, "reads": ["n"]}
            return {"result": {"allow": True}, "plan": plan}
        self.full.append(payload["mcp"]["arguments"])
        return {"allow": False, "deny": [f"#{len(self.full)}"]}


def _document(arguments: dict[str, Any], findings: list[dict[str, str]]) -> dict[str, Any]:
    mcp = {"arguments": arguments, "arguments_bytes": 30, "argument_findings": findings}
    return {"mcp": mcp}


async def test_a_call_read_like_an_earlier_one_gets_its_full_decision() -> None:
    opa, cache = _Opa(), DecisionCache()

    async def deny(arguments: dict[str, Any], findings: Any, key: str = "k") -> Any:
        return (await fast_result(opa, cache, _document(arguments, findings), [], key))["deny"]

    assert await deny({"card": "4111"}, PAN) == ["#1"]
    assert await deny({"card": "5500"}, PAN) == ["#1"]  # another number, the same finding
    assert opa.full == [{"card": "4111"}]
    assert (cache.hits, cache.kept_hits, cache.full) == (1, 1, 1)
    assert await deny({}, [{"kind": "pan", "path": "cc"}]) == ["#2"]
    assert await deny({}, PAN, "k2") == ["#3"]
    assert await deny({"n": 3}, []) == ["#4"]
    assert await deny({"n": 3, "text": "other"}, []) == ["#4"]
    assert await deny({"n": 4}, []) == ["#5"]
    nothing = await fast_result(opa, cache, _document({"card": "none"}, []), [], "k")
    assert nothing == {"allow": True}
    cache.clear()
    assert await deny({}, PAN) == ["#6"]
