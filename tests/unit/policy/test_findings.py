"""Personal and cardholder data in a call's arguments, found once per call and handed to the
policy as `input.mcp.argument_findings` (tests/integration/policy/test_findings.py checks every
case against OPA's own detectors)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from giru.policy.engine import PolicyEngine
from giru.policy.fast_path import DecisionCache, fast_result
from giru.policy.findings import argument_findings
from giru.policy.shapes import recorded_input
from tests.unit.policy.test_input import call, engine


@pytest.mark.parametrize(
    ("value", "kinds"),
    [
        ("4111111111111111", ["pan"]),
        ("4111 1111 1111 1111", ["pan"]),
        ("5500-0000-0000-0004", ["pan"]),
        ("378282246310005", ["pan"]),
        ("4111111111111111 123", ["pan"]),  # a CVV after the number, in one digit run
        ("4111 1111 1111 1111 12", ["pan"]),
        ("4111 1111 1111 1112", []),  # not Luhn-valid
        ("411111111111", []),
        ("0000000000000", []),
        ("41111111111111111111111", []),
        ("ssn 123-45-6789", ["ssn"]),
        ("000-12-3456", []),
        ("666-12-3456", []),
        ("912-12-3456", []),
        ("123-00-6789", []),
        ("write to jane.doe+x@example.co.uk", ["email"]),
        ("+442079460958", ["phone"]),
        ("(202) 555-0123", ["phone"]),
        ("2024-01-15", []),
        ("\u0664\u0661\u0661\u0661" * 4, []),  # Arabic-Indic digits: RE2's \d is ASCII only
        ("4111111111111111 j@e.io 123-45-6789 +12025550123", ["email", "pan", "phone", "ssn"]),
        (4111111111111111, ["pan"]),
        (4111111111111111.0, ["pan"]),
        (999_999_999_999, []),
        (10**19, []),
        (float("inf"), []),
        (True, []),
        (None, []),
    ],
)  # fmt: skip
def test_each_kind_is_found_where_the_rego_finds_it(value: Any, kinds: list[str]) -> None:
    assert argument_findings(value) == [{"kind": kind, "path": ""} for kind in kinds]


def test_findings_name_paths_in_nested_values_sorted_by_kind_then_path() -> None:
    arguments = {
        "payer": {"contacts": ["jane@example.com", 4111111111111111]},
        "card": "4111 1111 1111 1111",
        "a.b": "123-45-6789",
        "a": {"b": "123-45-6789"},
        "amount": 12.5,
        "ok": True,
    }
    assert argument_findings(arguments) == [
        {"kind": "email", "path": "payer.contacts.0"},
        {"kind": "pan", "path": "card"},
        {"kind": "pan", "path": "payer.contacts.1"},
        {"kind": "ssn", "path": "a.b"},
    ]


def test_the_decision_input_carries_the_findings_and_the_audit_record_no_values() -> None:
    card = dataclasses.replace(call("ci"), arguments={"card": "4111 1111 1111 1111"})
    document = engine().input_for(card)
    assert document["mcp"]["argument_findings"] == [{"kind": "pan", "path": "card"}]
    recorded = recorded_input(document)
    assert recorded["mcp"]["argument_findings"] == [{"kind": "pan", "path": "card"}]
    assert "4111" not in str(recorded)
    assert engine().input_for(call("ci"))["mcp"]["argument_findings"] == []


def test_large_or_costly_arguments_are_left_to_the_policy_s_detection() -> None:
    spaced = " ".join("4111111111111111")
    assert argument_findings({"card": spaced + " 1" * 240}) == [{"kind": "pan", "path": "card"}]
    assert argument_findings({"card": spaced + " 1" * 241}) is None  # windows over 257 groups
    assert argument_findings({"a": ["1 " * 128, "1-" * 129]}) is None
    large = dataclasses.replace(call("ci"), arguments={"card": "4111111111111111", "x": "y" * 9000})
    assert "argument_findings" not in engine().input_for(large)["mcp"]


class _Asked:
    """A querier that records the questions it is asked."""

    def __init__(self) -> None:
        self.payloads: list[Any] = []

    async def query(self, path: str, payload: Any, *, timeout_s: float | None = None) -> Any:
        self.payloads.append(payload)
        return {"result": {"allow": True}, "plan": None}


async def test_the_question_with_empty_arguments_carries_no_findings() -> None:
    policy: PolicyEngine = engine()
    card = dataclasses.replace(call("ci"), arguments={"card": "4111 1111 1111 1111"})
    document = policy.input_for(card)
    asked = _Asked()
    await fast_result(asked, DecisionCache(), document, [], "key")
    empty, full = asked.payloads
    assert empty["mcp"]["arguments"] == {}
    assert empty["mcp"]["argument_findings"] == []
    assert full["mcp"]["argument_findings"] == [{"kind": "pan", "path": "card"}]
