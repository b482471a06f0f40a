from __future__ import annotations

from typing import Any

import pytest

from giru.policy.shapes import recorded_input, replayed_input, shape_of, value_of


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        ("hello", {"type": "string", "length": 5}),
        ("pay 4111 1111 1111 1111", {"type": "string", "length": 23, "findings": ["pan"]}),
        ("4111 1111 1111 1112", {"type": "string", "length": 19}),  # not Luhn-valid
        ("ssn 123-45-6789", {"type": "string", "length": 15, "findings": ["ssn"]}),
        ("to bob@example.com", {"type": "string", "length": 18, "findings": ["email"]}),
        (42, {"type": "number", "integer": True, "digits": 2}),
        (4111111111111111, {"type": "number", "integer": True, "digits": 16, "findings": ["pan"]}),
        (2.5, {"type": "number", "integer": False, "digits": 1}),
        (True, {"type": "boolean"}),
        (None, {"type": "null"}),
        (
            [1, "a"],
            {
                "type": "array",
                "length": 2,
                "items": [
                    {"type": "number", "integer": True, "digits": 1},
                    {"type": "string", "length": 1},
                ],
            },
        ),
    ],
)
def test_a_shape_keeps_type_size_and_findings_never_the_value(value: Any, shape: Any) -> None:
    assert shape_of(value) == shape


def test_the_recorded_input_has_shapes_instead_of_arguments() -> None:
    document = {"mcp": {"tool": {"name": "pay"}, "arguments": {"card": "4111111111111111"}}}
    recorded = recorded_input(document)
    assert "arguments" not in recorded["mcp"]
    assert "4111" not in str(recorded)
    assert recorded["mcp"]["tool"] == {"name": "pay"}


@pytest.mark.parametrize(
    "arguments",
    [
        {"card": "pay 4111 1111 1111 1111 now", "n": 7},
        {"mail": "bob@example.com", "nested": {"ids": [1, 2], "ok": True}},
        {"big": 4111111111111111, "ssn": "123-45-6789"},
    ],
)
def test_a_replayed_value_has_the_recorded_shape(arguments: dict[str, Any]) -> None:
    replayed = replayed_input(recorded_input({"mcp": {"arguments": arguments}}))
    placeholder = replayed["mcp"]["arguments"]
    assert shape_of(placeholder)["keys"].keys() == arguments.keys()
    for key, value in arguments.items():
        assert shape_of(placeholder[key]).get("findings") == shape_of(value).get("findings")


def test_shapes_are_bounded() -> None:
    deep: Any = "x"
    for _ in range(50):
        deep = {"k": deep}
    assert "truncated" in str(shape_of(deep))
    wide = shape_of({f"k{i}": i for i in range(1000)})
    assert len(wide["keys"]) == 64
    assert wide["size"] == 1000
    assert value_of({"type": "string", "length": 10**9}).startswith("x")
