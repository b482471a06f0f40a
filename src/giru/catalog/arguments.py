"""Tool arguments checked against the tool's `inputSchema` before any upstream sees them (M8).

Validators are compiled once per tool when the catalog is fetched, each with a quick check
(`giru.catalog.fastcheck`) that passes plainly fitting arguments without jsonschema's per-call
work; jsonschema decides everything else, so refusals read as they always have. Schemas that
reference the network are refused at catalog time (M9): the gateway never fetches a `$ref`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import orjson
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator

from giru.catalog.fastcheck import Check, compile_fast_check

__all__ = ["ArgumentsValidator", "compile_arguments", "remote_refs"]

_MAX_MESSAGE: Final = 200


def _is_number(checker: Any, value: Any) -> bool:
    return Draft202012Validator.TYPE_CHECKER.is_type(value, "number") or isinstance(
        value, orjson.Fragment
    )


def _is_integer(checker: Any, value: Any) -> bool:
    # A number kept as its exact text (big, or not exact as a float) is not inspected here.
    return isinstance(value, orjson.Fragment) or bool(
        Draft202012Validator.TYPE_CHECKER.is_type(value, "integer")
    )


_TYPES: Final = Draft202012Validator.TYPE_CHECKER.redefine_many(
    {"number": _is_number, "integer": _is_integer}
)


class ArgumentsValidator:
    """One tool's compiled `inputSchema`."""

    __slots__ = ("_fast", "_validator")

    def __init__(self, validator: Validator, fast: Check | None) -> None:
        self._validator = validator
        self._fast = fast

    def problem(self, arguments: Any) -> str | None:
        """Why `arguments` do not fit the schema, or None when they do.

        A top-level `null` counts as an omitted argument, as MCP servers commonly treat it (the
        forwarded arguments are not changed)."""
        if isinstance(arguments, dict) and None in arguments.values():
            arguments = {k: v for k, v in arguments.items() if v is not None}
        arguments = arguments or {}
        if self._fast is not None and self._fast(arguments):
            return None
        try:
            error = next(iter(self._validator.iter_errors(arguments)), None)
        except (TypeError, ValueError):  # an exact-text number compared numerically: let it pass
            return None
        if error is None:
            return None
        where = "/".join(str(part) for part in error.absolute_path)
        message = f"{where}: {error.message}" if where else error.message
        return message[:_MAX_MESSAGE]


def compile_arguments(schema: dict[str, Any]) -> ArgumentsValidator | None:
    """The validator for a tool, or None when the schema itself is not valid JSON Schema."""
    cls = validators.validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError:
        return None
    checked = validators.extend(cls, type_checker=_TYPES)  # type: ignore[no-untyped-call]  # untyped in jsonschema
    return ArgumentsValidator(checked(schema), compile_fast_check(schema, cls))


def remote_refs(schema: Any) -> Iterator[str]:
    """`$ref`s that point outside the schema document (network or file URIs)."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                yield ref
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
