"""Tool arguments against the tool's inputSchema (BAD-INPUT M8, M9)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from giru.catalog.arguments import compile_arguments, remote_refs
from giru.mcp.jsonrpc import parse_message

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "n": {"type": "integer"},
        "colour": {"enum": ["red", "blue"]},
        "note": {"type": "string", "maxLength": 8},
        "ratio": {"type": "number"},
    },
    "required": ["n"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({}, "'n' is a required property"),
        ({"n": "1"}, "n: '1' is not of type 'integer'"),
        ({"n": True}, "n: True is not of type 'integer'"),
        ({"n": 1, "x": 1}, "Additional properties are not allowed ('x' was unexpected)"),
        ({"n": 1, "colour": "pink"}, "colour: 'pink' is not one of ['red', 'blue']"),
        ({"n": 1, "note": "x" * 9}, "note: 'xxxxxxxxx' is too long"),
        ([1], "[1] is not of type 'object'"),
    ],
)
def test_arguments_outside_the_schema_are_explained(arguments: Any, expected: str) -> None:
    validator = compile_arguments(SCHEMA)
    assert validator is not None
    assert validator.problem(arguments) == expected


def test_valid_arguments_and_null_as_omitted_pass() -> None:
    validator = compile_arguments(SCHEMA)
    assert validator is not None
    assert validator.problem({"n": 1, "colour": "red", "note": None}) is None


def test_exact_numbers_from_the_wire_are_numbers() -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":'
    message = parse_message(body + b'{"n":12345678901234567890123,"ratio":1.50}}}')
    arguments = (message.params or {})["arguments"]
    assert isinstance(arguments["ratio"], orjson.Fragment)
    validator = compile_arguments(SCHEMA)
    assert validator is not None
    assert validator.problem(arguments) is None


def test_an_invalid_schema_compiles_to_no_validator() -> None:
    assert compile_arguments({"type": 12}) is None


def test_remote_refs_are_found_and_local_ones_are_not() -> None:
    schema = {
        "$defs": {"a": {"type": "string"}},
        "properties": {
            "local": {"$ref": "#/$defs/a"},
            "remote": {"items": [{"$ref": "https://evil.example/schema.json"}]},
        },
    }
    assert list(remote_refs(schema)) == ["https://evil.example/schema.json"]


def test_formats_are_annotations_not_checks() -> None:
    """The quick check (catalog/fastcheck.py) passes any `format`: it holds while jsonschema is
    given no format checker. `not` keeps this schema away from the quick check."""
    validator = compile_arguments(
        {"properties": {"day": {"type": "string", "format": "date", "not": {"const": "x"}}}}
    )
    assert validator is not None
    assert validator.problem({"day": "not a date"}) is None
