from __future__ import annotations

from typing import Any

import pytest

from giru.approvals import summary_of


@pytest.mark.parametrize(
    ("arguments", "summary"),
    [
        ({}, "(no arguments)"),
        ({"path": "/tmp/x", "force": True}, "path='/tmp/x', force=true"),
        ({"card": "4111 1111 1111 1111"}, "card='**** **** **** 1111'"),
        ({"to": "bob@example.com"}, "to='b***@example.com'"),
        ({"ssn": "123-45-6789"}, "ssn='***-**-6789'"),
        ({"password": "hunter2", "api_key": "sk-1"}, "password=***, api_key=***"),
        ({"ids": [1, 2, 3], "filter": {"a": 1}}, "ids=[3 items], filter={a}"),
        ({"n": None, "amount": 12.5}, "n=null, amount=12.5"),
    ],
)
def test_summary_shows_shapes_and_masks_sensitive_values(
    arguments: dict[str, Any], summary: str
) -> None:
    assert summary_of(arguments) == summary


def test_a_long_value_is_shortened_and_the_summary_bounded() -> None:
    summary = summary_of({f"k{i}": "x" * 1000 for i in range(40)})
    assert len(summary) <= 400
    assert "x" * 61 not in summary


def test_a_card_number_deep_in_a_long_string_never_shows() -> None:
    summary = summary_of({"note": "a" * 50 + " 4111111111111111 " + "b" * 10_000})
    assert "4111111111111111" not in summary
    assert "41111111" not in summary
