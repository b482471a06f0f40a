"""A tool's pinned surface: the fields a model reads, hashed, and the diff between two of them.

The surface is what decides what a model is told and may send: the name, title, description,
input and output schemas and annotations. Anything else a server lists (`_meta`, icons) passes
through unpinned. Pure functions, no I/O.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any, Final, Literal, TypedDict

__all__ = [
    "MAX_CHANGES",
    "MAX_DEFINITION_BYTES",
    "SURFACE_FIELDS",
    "Change",
    "FieldChange",
    "canonical",
    "changes",
    "surface_hash",
    "surface_of",
    "text_diff",
]

SURFACE_FIELDS: Final = (
    "name",
    "title",
    "description",
    "inputSchema",
    "outputSchema",
    "annotations",
)
MAX_DEFINITION_BYTES: Final = 256 * 1024
"""A definition larger than this is pinned by its hash alone: the store keeps no copy of it
(and so no diff against it)."""
MAX_CHANGES: Final = 200
"""At most this many changed paths in one diff (the rest are counted, not listed)."""
_MAX_TEXT_LINES: Final = 400

Change = Literal["added", "changed", "removed"]


class FieldChange(TypedDict):
    """One difference between two surfaces, at a JSON Pointer (RFC 6901)."""

    path: str
    op: Literal["add", "remove", "replace"]
    before: Any
    after: Any


def surface_of(tool: Mapping[str, Any]) -> dict[str, Any]:
    """The pinned fields `tool` has (absent ones stay absent: adding one is a change)."""
    return {key: tool[key] for key in SURFACE_FIELDS if key in tool}


def canonical(surface: Mapping[str, Any]) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8 (so a byte of difference is a change)."""
    text = json.dumps(surface, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "surrogatepass")


def surface_hash(tool: Mapping[str, Any]) -> tuple[str, int]:
    """SHA-256 (hex) of the surface's canonical JSON, and that JSON's size in bytes."""
    data = canonical(surface_of(tool))
    return hashlib.sha256(data).hexdigest(), len(data)


def changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> tuple[list[FieldChange], int]:
    """What differs between two surfaces (None: no tool), at most `MAX_CHANGES` of them, and
    how many there are in all."""
    found: list[FieldChange] = []
    total = 0
    for change in _walk("", before, after):
        total += 1
        if len(found) < MAX_CHANGES:
            found.append(change)
    return found, total


def text_diff(before: str | None, after: str | None, label: str) -> str:
    """A unified diff of two texts (a description), for people to read; empty when equal."""
    if before == after:
        return ""
    old = (before or "").splitlines(keepends=True)[:_MAX_TEXT_LINES]
    new = (after or "").splitlines(keepends=True)[:_MAX_TEXT_LINES]
    lines = difflib.unified_diff(old, new, f"approved/{label}", f"offered/{label}", lineterm="")
    return "\n".join(line.rstrip("\n") for line in lines)


def _walk(path: str, before: Any, after: Any) -> Iterator[FieldChange]:
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in sorted(set(before) | set(after), key=str):
            child = f"{path}/{_escape(str(key))}"
            if key not in before:
                yield {"path": child, "op": "add", "before": None, "after": after[key]}
            elif key not in after:
                yield {"path": child, "op": "remove", "before": before[key], "after": None}
            else:
                yield from _walk(child, before[key], after[key])
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            yield from _walk(f"{path}/{index}", old, new)
    elif before != after or type(before) is not type(after):
        if before is None:
            yield {"path": path or "/", "op": "add", "before": None, "after": after}
        elif after is None:
            yield {"path": path or "/", "op": "remove", "before": before, "after": None}
        else:
            yield {"path": path or "/", "op": "replace", "before": before, "after": after}


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")
