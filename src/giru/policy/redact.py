"""Masking of card numbers, SSNs, e-mail addresses and phone numbers in tool results.

Policy says what to mask (`redact` instructions of the decision); this module does it on the
data path. Only string values change, each keeping its length class and separators (a masked
e-mail is still an e-mail, a masked PAN keeps its last four digits), so `structuredContent`
still matches the tool's `outputSchema` and text stays readable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

__all__ = ["KINDS", "mask_text", "redact_result"]

_PAN: Final = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_SSN: Final = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
_EMAIL: Final = re.compile(
    r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b"
)
_PHONE: Final = re.compile(r"(?<![\w+])\+?\d{1,3}[ .-]?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}(?!\d)")


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _mask_pan(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"\D", "", text)
    if not _luhn(digits):
        return text
    keep = len(digits) - 4
    out, seen = [], 0
    for char in text:
        if char.isdigit():
            out.append("*" if seen < keep else char)
            seen += 1
        else:
            out.append(char)
    return "".join(out)


def _mask_ssn(match: re.Match[str]) -> str:
    return "***-**-" + match.group(0)[-4:]


def _mask_email(match: re.Match[str]) -> str:
    return f"{match.group(1)}***@{match.group(2)}"


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    total = sum(c.isdigit() for c in text)
    out, seen = [], 0
    for char in text:
        if char.isdigit():
            out.append("*" if seen < total - 2 else char)
            seen += 1
        else:
            out.append(char)
    return "".join(out)


KINDS: Final[Mapping[str, tuple[re.Pattern[str], Callable[[re.Match[str]], str]]]] = {
    "pan": (_PAN, _mask_pan),
    "ssn": (_SSN, _mask_ssn),
    "email": (_EMAIL, _mask_email),
    "phone": (_PHONE, _mask_phone),
}


def mask_text(text: str, kinds: Iterable[str]) -> str:
    """`text` with every occurrence of the given kinds masked (unknown kinds are ignored)."""
    for kind in kinds:
        found = KINDS.get(kind)
        if found is not None:
            pattern, mask = found
            text = pattern.sub(mask, text)
    return text


def redact_result(result: Mapping[str, Any], kinds: Iterable[str]) -> tuple[dict[str, Any], int]:
    """A copy of a tools/call `result` with every string masked; and how many strings changed.

    Covers `content` (text, embedded resource text), `structuredContent` and anything nested;
    keys, numbers, booleans and `_meta` are left alone.
    """
    wanted = tuple(k for k in dict.fromkeys(kinds) if k in KINDS)
    changed = 0

    def walk(value: Any) -> Any:
        nonlocal changed
        if isinstance(value, str):
            masked = mask_text(value, wanted)
            changed += masked != value
            return masked
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, dict):
            return {k: v if k == "_meta" else walk(v) for k, v in value.items()}
        return value

    if not wanted:
        return dict(result), 0
    return {k: v if k == "_meta" else walk(v) for k, v in result.items()}, changed
