"""Pydantic validation errors as Giru reports them everywhere (loader, store, API): a field path
in the manifest's camelCase names with `[i]` for list items, and a plain-English reason."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic_core import ErrorDetails

__all__ = ["field_path", "reason"]


def field_path(loc: Sequence[int | str]) -> tuple[str, bool]:
    """(`spec.scopeTools[0]`-style path, whether the error is about a mapping key)."""
    parts = list(loc)
    is_key = bool(parts) and parts[-1] == "[key]"
    if is_key:
        parts.pop()
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path, is_key


def reason(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    if kind == "json_invalid":
        return f"invalid JSON: {error.get('ctx', {}).get('error', error['msg'])}"
    message = error["msg"]
    if message.startswith("Input should be"):
        return "must be" + message.removeprefix("Input should be")
    return message[:1].lower() + message[1:]
