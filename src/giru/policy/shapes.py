"""What the audit log keeps of a call's policy input: everything but argument values.

`recorded_input` replaces `mcp.arguments` by `mcp.argument_shapes`: each value's type, a
string's length, a number's digit count, an object's keys, an array's length, and the kinds of
sensitive data the detectors found in it ("pan", "ssn", "email", "phone") — never the value.
`mcp.argument_findings` (the policy's own findings: kinds and argument paths) is kept, so a
replay decides on the findings the call had.
`replayed_input` turns a recorded input back into one a bundle can decide: placeholder values of
the recorded shapes, each holding a made-up sample of every kind found (a test card number, a
reserved SSN, an example.com address), so rules that look at types, sizes, keys and detector
findings decide as they did; rules that compare actual values (a threshold on a number, a
region name) see placeholders (docs/policies/replay.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import islice
from typing import Any, Final

from giru.policy.redact import KINDS

__all__ = ["recorded_input", "replayed_input", "shape_of", "value_of"]

_MAX_DEPTH: Final = 6
_MAX_KEYS: Final = 64
_MAX_ITEMS: Final = 16
_MAX_SCAN: Final = 65_536
_SAMPLES: Final = {
    "pan": "4111111111111111",
    "ssn": "123-45-6789",
    "email": "someone@example.com",
    "phone": "+1 202 555 0100",
}
_PAN_NUMBER: Final = 4111111111111111
_FILLER: Final = "x"
_MAY_FIND: Final = re.compile(r"[\d@]")
"""Only text with a digit or "@" can hold a kind the detectors find (KINDS)."""


def recorded_input(document: Mapping[str, Any]) -> dict[str, Any]:
    """`document` (a decision input) without argument values: their shapes instead."""
    mcp = dict(document.get("mcp") or {})
    mcp["argument_shapes"] = shape_of(mcp.pop("arguments", {}))
    return {**document, "mcp": mcp}


def replayed_input(recorded: Mapping[str, Any]) -> dict[str, Any]:
    """A decision input made from a recorded one: placeholder arguments of the same shapes."""
    mcp = dict(recorded.get("mcp") or {})
    shapes = mcp.pop("argument_shapes", None)
    mcp["arguments"] = value_of(shapes) if isinstance(shapes, dict) else {}
    return {**recorded, "mcp": mcp}


def shape_of(value: Any, depth: int = 0) -> dict[str, Any]:
    """The shape of one value (bounded: 6 levels, 64 keys, 16 items)."""
    if isinstance(value, str):
        shape: dict[str, Any] = {"type": "string", "length": len(value)}
        found = _findings(value)
        if found:
            shape["findings"] = found
        return shape
    if isinstance(value, bool) or value is None:
        return {"type": "boolean" if value is not None else "null"}
    if isinstance(value, int | float):
        return _number(value)
    if depth >= _MAX_DEPTH:
        return {"type": "object" if isinstance(value, dict) else "array", "truncated": True}
    if isinstance(value, dict):
        keys = {str(k): shape_of(v, depth + 1) for k, v in islice(value.items(), _MAX_KEYS)}
        return {"type": "object", "keys": keys, "size": len(value)}
    if isinstance(value, list | tuple):
        items = [shape_of(v, depth + 1) for v in value[:_MAX_ITEMS]]
        return {"type": "array", "length": len(value), "items": items}
    return {"type": "string", "length": 0}


def value_of(shape: Mapping[str, Any]) -> Any:
    """A placeholder value of `shape`."""
    kind = shape.get("type")
    if kind == "string":
        return _string(int(shape.get("length") or 0), shape.get("findings") or [])
    if kind == "number":
        if "pan" in (shape.get("findings") or []):
            return _PAN_NUMBER
        digits = int(shape.get("digits") or 1)
        return 10 ** (min(digits, 18) - 1) if shape.get("integer") else float(10 ** (digits - 1))
    if kind == "boolean":
        return False
    if kind == "object":
        keys = shape.get("keys") or {}
        return {k: value_of(v) for k, v in keys.items() if isinstance(v, dict)}
    if kind == "array":
        return [value_of(item) for item in shape.get("items") or [] if isinstance(item, dict)]
    return None


def _number(value: int | float) -> dict[str, Any]:
    integer = isinstance(value, int) or float(value).is_integer()
    digits = len(str(abs(int(value)))) if abs(value) < 1e300 else 301
    shape: dict[str, Any] = {"type": "number", "integer": integer, "digits": digits}
    if integer and abs(value) >= 10**12 and "pan" in _findings(str(int(value))):
        shape["findings"] = ["pan"]
    return shape


def _findings(text: str) -> list[str]:
    text = text[:_MAX_SCAN]
    if not _MAY_FIND.search(text):
        return []
    return [kind for kind, (pattern, mask) in KINDS.items() if _detected(pattern, mask, text)]


def _detected(pattern: re.Pattern[str], mask: Any, text: str) -> bool:
    """A match the masker would change (a PAN must pass the Luhn check to count)."""
    return any(mask(match) != match.group(0) for match in pattern.finditer(text))


def _string(length: int, findings: list[str]) -> str:
    samples = " ".join(_SAMPLES[kind] for kind in findings if kind in _SAMPLES)
    if not samples:
        return _FILLER * min(length, _MAX_SCAN)
    return samples + " " + _FILLER * max(0, min(length, _MAX_SCAN) - len(samples) - 1)
