"""The quick argument check never passes what jsonschema refuses (BAD-INPUT M8), and does pass
the plain arguments of common tool schemas."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator, Draft7Validator, Draft202012Validator, validators
from jsonschema.exceptions import SchemaError

from giru.catalog.fastcheck import compile_fast_check

_DRAFT7: Any = "http://json-schema.org/draft-07/schema#"
_KEYS = st.sampled_from(["a", "b", "c", "d"])
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from([0.0, -0.0, 1.0, 2.5, -1.5, 1e300, float("inf")])
    | st.sampled_from(["", "a", "ab", "b1", "0", "abc"])
)
_instances = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=8,
)
_types = st.sampled_from(["object", "array", "string", "boolean", "null", "number", "integer"])
_numbers = st.integers(-2, 2) | st.sampled_from([0.5, -1.0, 1.5])
_leaf_keywords = st.fixed_dictionaries(
    {},
    optional={
        "type": _types | st.lists(_types, min_size=1, max_size=3, unique=True),
        "enum": st.lists(_scalars | st.just([1]), min_size=1, max_size=4),
        "const": _scalars,
        "minLength": st.integers(0, 3),
        "maxLength": st.integers(0, 3),
        "minItems": st.integers(0, 3),
        "maxItems": st.integers(0, 3),
        "minimum": _numbers,
        "maximum": _numbers,
        "exclusiveMinimum": _numbers,
        "exclusiveMaximum": _numbers,
        "pattern": st.sampled_from(["^a", "1$", "[0-9]", "^$"]),
        "format": st.just("email"),
        "required": st.lists(_KEYS, max_size=3, unique=True),
        "description": st.just("ignored"),
        "x-vendor": st.just({"type": "string"}),
        "uniqueItems": st.just(True),
        "multipleOf": st.just(2),
    },
)


def _nested(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {},
        optional={
            "type": _types,
            "properties": st.dictionaries(_KEYS, inner, max_size=3),
            "additionalProperties": inner,
            "required": st.lists(_KEYS, max_size=2, unique=True),
            "items": inner,
            "anyOf": st.lists(inner, min_size=1, max_size=2),
            "allOf": st.lists(inner, min_size=1, max_size=2),
            "oneOf": st.lists(inner, min_size=1, max_size=2),
            "not": inner,
            "patternProperties": st.just({"^c": {"type": "string"}}),
        },
    )


_schemas = st.recursive(st.booleans() | _leaf_keywords, _nested, max_leaves=6)
_drafts = st.sampled_from(
    [
        None,  # 2020-12
        "https://json-schema.org/draft/2019-09/schema",
        _DRAFT7,
        "http://json-schema.org/draft-06/schema#",
    ]
)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(_schemas, _drafts, _instances)
def test_what_the_quick_check_passes_jsonschema_finds_valid(
    schema: Any, draft: str | None, instance: Any
) -> None:
    if isinstance(schema, dict) and draft is not None:
        schema = {"$schema": draft, **schema}
    cls = validators.validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError:
        return
    check = compile_fast_check(schema, cls)
    if check is not None and check(instance):
        assert cls(schema).is_valid(instance)


ECHO: dict[str, Any] = {
    "type": "object",
    "properties": {"text": {"type": "string", "description": "Text to echo back"}},
    "required": ["text"],
}
ZOD: dict[str, Any] = {  # what zod-to-json-schema makes, as the TypeScript SDK lists it
    "$schema": _DRAFT7,
    "type": "object",
    "properties": {
        "path": {"type": "string", "minLength": 1},
        "mode": {"type": "string", "enum": ["read", "write"], "default": "read"},
        "limit": {"type": "integer", "exclusiveMinimum": 0, "maximum": 100},
        "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}},
        "since": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
    },
    "required": ["path"],
    "additionalProperties": False,
}
PYDANTIC: dict[str, Any] = {  # what FastMCP makes of a Python function's signature
    "properties": {
        "a": {"title": "A", "type": "integer"},
        "b": {"default": 1.5, "title": "B", "type": "number"},
    },
    "required": ["a"],
    "title": "addArguments",
    "type": "object",
}


@pytest.mark.parametrize(
    ("schema", "arguments"),
    [
        (ECHO, {"text": "hello world"}),
        (ZOD, {"path": "/tmp/x", "mode": "write", "limit": 5, "tags": ["a", "b"], "since": None}),
        (ZOD, {"path": "p", "since": "2026-12-07T11:00:00Z"}),
        (PYDANTIC, {"a": 2, "b": 3}),
        (PYDANTIC, {"a": 2.0}),
        ({}, {"anything": [1, {"goes": None}]}),
    ],
)
def test_plain_arguments_of_common_schemas_pass_the_quick_check(
    schema: dict[str, Any], arguments: dict[str, Any]
) -> None:
    cls = validators.validator_for(schema, default=Draft202012Validator)
    check = compile_fast_check(schema, cls)
    assert check is not None
    assert check(arguments)


@pytest.mark.parametrize(
    ("schema", "arguments"),
    [
        (ECHO, {}),
        (ECHO, {"text": 1}),
        (ZOD, {"path": ""}),
        (ZOD, {"path": "p", "limit": 0}),
        (ZOD, {"path": "p", "other": 1}),
        (ZOD, {"path": "p", "tags": ["A"]}),
        (PYDANTIC, {"a": True}),
        (PYDANTIC, {"a": orjson.Fragment(b"12345678901234567890123")}),
        ({"properties": {"a": {"minimum": 1}}}, {"a": orjson.Fragment(b"1.50")}),
    ],
)
def test_arguments_outside_the_schema_or_exact_numbers_are_left_to_jsonschema(
    schema: dict[str, Any], arguments: dict[str, Any]
) -> None:
    cls = validators.validator_for(schema, default=Draft202012Validator)
    check = compile_fast_check(schema, cls)
    assert check is not None
    assert not check(arguments)


@pytest.mark.parametrize(
    "schema",
    [
        {"properties": {"a": {"$ref": "#/$defs/a"}}, "$defs": {"a": {"type": "string"}}},
        {"oneOf": [{"type": "string"}, {"type": "integer"}]},
        {"not": {"type": "string"}},
        {"patternProperties": {"^x": {"type": "string"}}, "additionalProperties": False},
        {"type": "array", "prefixItems": [{"type": "string"}]},
        {"$schema": _DRAFT7, "type": "array", "items": [{"type": "string"}]},
        {"$schema": "http://json-schema.org/draft-04/schema#", "minimum": 1},
        {"properties": {"a": {"$schema": _DRAFT7, "dependencies": {"x": ["y"]}}}},
    ],
)
def test_schemas_beyond_the_quick_check_are_left_to_jsonschema(schema: dict[str, Any]) -> None:
    cls = validators.validator_for(schema, default=Draft202012Validator)
    assert cls in (Draft202012Validator, Draft7Validator, Draft4Validator)
    assert compile_fast_check(schema, cls) is None


def test_a_schema_nested_past_the_budget_is_left_to_jsonschema() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(40):
        schema = {"type": "object", "properties": {"a": schema}}
    assert compile_fast_check(schema, Draft202012Validator) is None
