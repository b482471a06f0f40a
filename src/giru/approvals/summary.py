"""The argument summary a person reads before approving a call: short, and never a secret or a
card number in clear. Values under secret-looking names are hidden whole; every other string is
masked by the detectors of result redaction (card numbers, SSNs, e-mail addresses, phone
numbers) and shortened."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from giru.policy.redact import KINDS, mask_text

__all__ = ["summary_of"]

_SECRET_NAME: Final = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[_-]?key|credential|private[_-]?key|auth|cookie|pin\b",
    re.IGNORECASE,
)
_MAX_VALUE: Final = 60
_MAX_ITEMS: Final = 12
_MAX_TOTAL: Final = 400


def summary_of(arguments: Mapping[str, Any]) -> str:
    """`name=value, …` over the top-level arguments, redacted and bounded (at most 400
    characters); `(no arguments)` when there are none."""
    if not arguments:
        return "(no arguments)"
    parts = []
    for index, (name, value) in enumerate(arguments.items()):
        if index == _MAX_ITEMS:
            parts.append(f"… {len(arguments) - _MAX_ITEMS} more")
            break
        label = _short(mask_text(str(name)[:160], KINDS), 40)
        shown = "***" if _SECRET_NAME.search(str(name)) else _value(value)
        parts.append(f"{label}={shown}")
    return _short(", ".join(parts), _MAX_TOTAL)


def _value(value: Any) -> str:
    if isinstance(value, str):
        return repr(_short(mask_text(value[: _MAX_VALUE * 4], KINDS), _MAX_VALUE))
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "null"
    if isinstance(value, int | float):
        return mask_text(str(value), KINDS)
    if isinstance(value, list):
        return f"[{len(value)} item{'s' if len(value) != 1 else ''}]"
    if isinstance(value, dict):
        keys = ", ".join(_short(mask_text(str(k), KINDS), 20) for k in list(value)[:4])
        more = ", …" if len(value) > 4 else ""
        return f"{{{keys}{more}}}"
    return type(value).__name__


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
