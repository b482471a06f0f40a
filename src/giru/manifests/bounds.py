"""Bounds on free-form JSON fields (subscription constraints, claims, policy data, policy input).

These values travel verbatim into every policy input document and into the store, whose JSON
encoders stop at 255 levels; an unbounded value accepted once would break every later call of its
client. Each is checked before pydantic looks inside it, without recursion, so a hostile value
costs one linear walk and gets a 422 naming the field (docs/security/limits.md).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import orjson
from pydantic import BeforeValidator

__all__ = [
    "MAX_FIELD_BYTES",
    "MAX_FIELD_DEPTH",
    "MAX_INPUT_BYTES",
    "MAX_INPUT_DEPTH",
    "BoundedJson",
    "BoundedObject",
    "BoundedPolicyInput",
    "json_bound_problem",
]

MAX_FIELD_DEPTH: Final = 32
"""Nesting levels of a free-form manifest field (`{}` is one level, `{"a": []}` two)."""
MAX_FIELD_BYTES: Final = 64 * 1024
"""Its size encoded as compact JSON."""
MAX_INPUT_DEPTH: Final = 64
"""`POST /api/v1/policy/eval`'s input: constraints and claims sit a few levels down in it."""
MAX_INPUT_BYTES: Final = 1024 * 1024


def json_bound_problem(value: Any, max_depth: int, max_bytes: int) -> str | None:
    """Why `value` breaks the bounds, or None; the depth is checked first, iteratively, so the
    size is only measured on a value the encoder can take."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > max_depth:
            return f"nested deeper than {max_depth} levels"
        stack.extend((child, depth + 1) for child in children)
    try:
        size = len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        return "must be plain JSON (objects, arrays, strings, numbers, booleans, null)"
    if size > max_bytes:
        return f"larger than {max_bytes} bytes as JSON"
    return None


def _bounded(max_depth: int, max_bytes: int) -> BeforeValidator:
    def check(value: Any) -> Any:
        problem = json_bound_problem(value, max_depth, max_bytes)
        if problem is not None:
            raise ValueError(problem)
        return value

    return BeforeValidator(check)


BoundedObject = Annotated[dict[str, Any], _bounded(MAX_FIELD_DEPTH, MAX_FIELD_BYTES)]
"""A free-form JSON object field of a manifest (constraints, one pack's policy data)."""
BoundedJson = _bounded(MAX_FIELD_DEPTH, MAX_FIELD_BYTES)
"""The same bounds as a validator, for typed fields whose whole value must also fit (claims)."""
BoundedPolicyInput = Annotated[dict[str, Any], _bounded(MAX_INPUT_DEPTH, MAX_INPUT_BYTES)]
