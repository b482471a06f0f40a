"""A quick check, compiled once per tool, that arguments plainly fit the tool's `inputSchema`.

jsonschema builds a validator for every subschema it descends into, on every call: ~7 µs of CPU
for a one-property schema, ~40 for five (bench/results/profile/2026-12-07-argument-validation.md).
For a draft 6 to 2020-12 schema whose assertions are only `type`, `enum`, `const`, `required`,
`properties`, `additionalProperties`, `items` (one schema), `anyOf`, `allOf`, the length and
number bounds, `pattern` and `format`, `compile_fast_check` returns a predicate built once at
catalog time. True means jsonschema finds no error either; False means "not shown here", and the
caller asks jsonschema, so every refusal, and its message, stays jsonschema's. Anything this
module does not follow exactly (a `$ref`, `oneOf`, `not`, a `$schema` below the root, an
exact-text number, a float against `enum`) makes it answer False or compile to None.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson
from jsonschema import (
    Draft6Validator,
    Draft7Validator,
    Draft201909Validator,
    Draft202012Validator,
)
from jsonschema.protocols import Validator

__all__ = ["Check", "compile_fast_check"]

Check = Callable[[Any], bool]

_DRAFTS: Final = (Draft6Validator, Draft7Validator, Draft201909Validator, Draft202012Validator)
_MAX_DEPTH: Final = 32
_TYPES: Final[Mapping[str, tuple[type, ...]]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
    "number": (int, float),
    "integer": (int,),
}
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})
_NUMBERS: Final = (int, float)
_LENGTHS: Final = {"minLength": str, "maxLength": str, "minItems": list, "maxItems": list}
_BOUNDS: Final[Mapping[str, Callable[[Any, Any], bool]]] = {
    "minimum": lambda value, bound: value >= bound,
    "maximum": lambda value, bound: value <= bound,
    "exclusiveMinimum": lambda value, bound: value > bound,
    "exclusiveMaximum": lambda value, bound: value < bound,
}
# Keywords that assert nothing here: `format` without a format checker (compile_arguments gives
# none), and the object keywords, read together by `_members`.
_SILENT: Final = frozenset({"format", "properties", "additionalProperties"})


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def compile_fast_check(schema: Any, validator_class: type[Validator]) -> Check | None:
    """The quick check for a schema that `validator_class` (as jsonschema's `validator_for`
    chose it) checks, or None when the schema uses what the quick check does not follow."""
    if validator_class not in _DRAFTS:
        return None
    return _compile(schema, frozenset(validator_class.VALIDATORS), 0)


def _compile(schema: Any, keywords: frozenset[str], depth: int) -> Check | None:
    if schema is True:
        return _always
    if schema is False:
        return _never
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    if depth and "$schema" in schema:  # jsonschema switches to that draft's keywords there
        return None
    parts: list[Check] = []
    for keyword in schema:
        if keyword not in keywords or keyword in _SILENT:
            continue  # jsonschema ignores what its draft does not define
        part = _part(keyword, schema[keyword], keywords, depth)
        if part is None:
            return None
        parts.append(part)
    if "properties" in schema or "additionalProperties" in schema:
        members = _members(schema, keywords, depth)
        if members is None:
            return None
        parts.append(members)
    return _all_of(parts)


def _all_of(parts: list[Check]) -> Check:
    if not parts:
        return _always
    if len(parts) == 1:
        return parts[0]

    def check(value: Any) -> bool:
        for part in parts:  # noqa: SIM110  # a loop: all() of a generator costs twice as much here
            if not part(value):
                return False
        return True

    return check


def _part(keyword: str, argument: Any, keywords: frozenset[str], depth: int) -> Check | None:
    if keyword == "type":
        return _type(argument)
    if keyword in ("enum", "const"):
        return _equal_to(argument if keyword == "enum" else [argument])
    if keyword == "required":
        return _required(argument)
    if keyword in _LENGTHS:
        return _length(keyword, argument)
    if keyword in _BOUNDS:
        return _bound(_BOUNDS[keyword], argument)
    if keyword == "pattern":
        return _pattern(argument)
    if keyword == "items":
        return _items(argument, keywords, depth)
    if keyword in ("anyOf", "allOf"):
        return _combined(keyword, argument, keywords, depth)
    return None


def _type(names: Any) -> Check | None:
    listed = [names] if isinstance(names, str) else names
    if not isinstance(listed, list) or not all(name in _TYPES for name in listed):
        return None
    types = frozenset(t for name in listed for t in _TYPES[name])
    integral = "integer" in listed  # 1.0 is an integer from draft 6 on

    def check(value: Any) -> bool:
        return type(value) in types or (integral and type(value) is float and value.is_integer())

    return check


def _equal_to(members: Any) -> Check | None:
    """`enum`/`const`: only a member of the same plain type passes (jsonschema's `equal` also
    takes 1 for 1.0, and compares arrays and objects: those are left to it)."""
    if not isinstance(members, list):
        return None
    allowed = frozenset((type(m), m) for m in members if type(m) in _SCALARS)

    def check(value: Any) -> bool:
        kind = type(value)
        return kind in _SCALARS and (kind, value) in allowed

    return check


def _required(names: Any) -> Check | None:
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        return None
    wanted = tuple(names)

    def check(value: Any) -> bool:
        if type(value) is not dict:
            return True
        for name in wanted:  # noqa: SIM110  # as in _all_of
            if name not in value:
                return False
        return True

    return check


def _length(keyword: str, limit: Any) -> Check | None:
    if type(limit) not in _NUMBERS:
        return None
    kind = _LENGTHS[keyword]
    at_least = keyword.startswith("min")

    def check(value: Any) -> bool:
        if type(value) is not kind:
            return True
        return len(value) >= limit if at_least else len(value) <= limit

    return check


def _bound(holds: Callable[[Any, Any], bool], bound: Any) -> Check | None:
    if type(bound) not in _NUMBERS:
        return None

    def check(value: Any) -> bool:
        kind = type(value)
        if kind is int or kind is float:
            return holds(value, bound)
        return kind is not orjson.Fragment  # an exact-text number: jsonschema decides

    return check


def _pattern(source: Any) -> Check | None:
    if not isinstance(source, str):
        return None
    try:
        compiled = re.compile(source)
    except re.error:
        return None

    def check(value: Any) -> bool:
        return type(value) is not str or compiled.search(value) is not None

    return check


def _items(items: Any, keywords: frozenset[str], depth: int) -> Check | None:
    each = _compile(items, keywords, depth + 1)  # a list (tuple form) compiles to None
    if each is None:
        return None

    def check(value: Any) -> bool:
        if type(value) is not list:
            return True
        return all(each(item) for item in value)

    return check


def _combined(keyword: str, schemas: Any, keywords: frozenset[str], depth: int) -> Check | None:
    if not isinstance(schemas, list) or not schemas:
        return None
    checks = [_compile(s, keywords, depth + 1) for s in schemas]
    if any(c is None for c in checks):
        return None
    branches = tuple(c for c in checks if c is not None)
    combine = any if keyword == "anyOf" else all

    def check(value: Any) -> bool:
        return combine(branch(value) for branch in branches)

    return check


def _members(schema: dict[str, Any], keywords: frozenset[str], depth: int) -> Check | None:
    """`properties` and `additionalProperties` together: each member of an object against its
    property's schema, or the additional one (none given: anything)."""
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        return None
    named: dict[str, Check] = {}
    for name, subschema in properties.items():
        check = _compile(subschema, keywords, depth + 1)
        if check is None:
            return None
        named[name] = check
    other = _compile(schema.get("additionalProperties", True), keywords, depth + 1)
    if other is None:
        return None
    lookup = named.get

    def members(value: Any) -> bool:
        if type(value) is not dict:
            return True
        for name, member in value.items():  # noqa: SIM110  # as in _all_of
            if not lookup(name, other)(member):
                return False
        return True

    return members
