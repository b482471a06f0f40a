"""Personal and cardholder data in a call's arguments, found in Python once per call and handed
to the policy as `input.mcp.argument_findings` (docs/policies/input.md).

`argument_findings(arguments)` is what `data.giru.lib.pii.findings(arguments)` computes in Rego
(policies/lib/pii.rego), detector for detector: the same regular expressions read with RE2's
ASCII `\\d`, `\\w` and `\\b` (`re.ASCII`), the same card number runs and group windows, the same
Luhn check. These are not giru.policy.redact's masking patterns, which differ on purpose.
tests/integration/policy/test_findings.py checks both agree against a real OPA.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Final

__all__ = ["ARGUMENTS_BYTES_AT_MOST", "argument_findings"]

ARGUMENTS_BYTES_AT_MOST: Final = 8192
"""Larger arguments (their JSON) are left to the Rego's detection: the work stays bounded
(milliseconds) on the event loop, as it was bounded by the policy engine's timeout."""

_ASCII: Final = re.ASCII
_DIGIT: Final = re.compile(r"\d", _ASCII)
_MAY_FIND: Final = re.compile(r"[\d@]", _ASCII)
"""Only a string with an ASCII digit or "@" can hold a kind the detectors find."""
_RUN: Final = re.compile(r"\d(?:[ -]?\d){12,}", _ASCII)
_SEPARATOR: Final = re.compile(r"[ -]", _ASCII)
_SSN: Final = re.compile(
    r"\b(?:00[1-9]|0[1-9]\d|[1-578]\d\d|6[0-57-9]\d|66[0-57-9])-(?:0[1-9]|[1-9]\d)"
    r"-(?:000[1-9]|00[1-9]\d|0[1-9]\d\d|[1-9]\d{3})\b",
    _ASCII,
)
_LOCAL: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_DOMAIN: Final = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
r"""pii.email's `[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`, split at
the "@": some "@" has a local part character before it and the domain after it. Searched
whole, Python's backtracking would retry the local part from every start (quadratic time on
long text; RE2 is linear)."""
_PHONE: Final = re.compile(
    r"(?:^|[^\w+])\+[1-9](?:[ .-]?\d){7,14}\b|(?:\(\d{3}\) ?|\b\d{3}[-. ])\d{3}[-. ]\d{4}\b",
    _ASCII,
)
_PAN_DIGITS: Final = 19
"""A PAN has 13 to 19 digits."""
_WINDOW_GROUPS: Final = 256
"""The digit groups a call's card number windows may span here (each costs a few µs): past
that, the call's detection is left to the Rego."""
_NUMBER_FLOOR: Final = 10**12
"""Numbers from here up are read as the digits of their floor (a PAN has 13 digits at least)."""
_NUMBER_CEILING: Final = 10**19
"""From here up, a number's floor has 20 digits or more in one run: never a PAN."""
_DOUBLED: Final = bytes.maketrans(b"0123456789", b"0246813579")
"""Each digit's contribution to the Luhn sum when it is doubled, as a digit."""


def argument_findings(arguments: Any) -> list[dict[str, str]] | None:
    """`{"kind": "pan"|"ssn"|"email"|"phone", "path": label}` for every string or number leaf
    of `arguments` (nested objects and arrays included) holding data of that kind, as
    `data.giru.lib.pii.findings` finds them; the label joins the leaf's path with "." ("" for
    `arguments` itself). The list is the set OPA returns: no duplicates, sorted by kind, then
    path (OPA's order of these objects). None when its digit runs need windows over more than
    256 groups in all (the policy's own detection is left to decide). Recursive: arguments
    nest as deep as orjson writes them (254 levels)."""
    found: set[tuple[str, str]] = set()
    try:
        _visit(arguments, [], found, _Budget())
    except _TooMuchWorkError:
        return None
    return [{"kind": kind, "path": path} for kind, path in sorted(found)]


class _TooMuchWorkError(Exception):
    """The card number windows of the arguments are left to the Rego."""


class _Budget:
    """The digit groups one call's card number windows may still span (`_WINDOW_GROUPS`)."""

    __slots__ = ("groups",)

    def __init__(self) -> None:
        self.groups = _WINDOW_GROUPS

    def spend(self, groups: int) -> None:
        self.groups -= groups
        if self.groups < 0:
            raise _TooMuchWorkError


def _visit(value: Any, path: list[str], found: set[tuple[str, str]], budget: _Budget) -> None:
    """Add the (kind, label) findings of `value`, at `path`, to `found`."""
    if isinstance(value, str):
        if _MAY_FIND.search(value) is None:
            return
        kinds = _string_kinds(value, budget)
    elif isinstance(value, dict):
        for key, item in value.items():
            path.append(str(key))
            _visit(item, path, found, budget)
            path.pop()
        return
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            path.append(str(index))
            _visit(item, path, found, budget)
            path.pop()
        return
    elif isinstance(value, int | float) and not isinstance(value, bool):
        kinds = ("pan",) if _number_pan(value) else ()
    else:
        return
    if kinds:
        label = ".".join(path)
        found.update((kind, label) for kind in kinds)


def _string_kinds(text: str, budget: _Budget) -> tuple[str, ...]:
    """pii.kinds(text): the kinds of data in a string."""
    kinds: tuple[str, ...] = ("email",) if _email(text) else ()
    if not _DIGIT.search(text):
        return kinds
    if _pan(text, budget):
        kinds += ("pan",)
    if "-" in text and _SSN.search(text):
        kinds += ("ssn",)
    if _PHONE.search(text):
        kinds += ("phone",)
    return kinds


def _email(text: str) -> bool:
    """pii.email(text), in time linear in the text's length."""
    at = text.find("@", 1)
    while at > 0:
        if text[at - 1] in _LOCAL and _DOMAIN.match(text, at + 1):
            return True
        at = text.find("@", at + 1)
    return False


def _number_pan(number: float) -> bool:
    """pii.leaf_kinds(number): whether the digits of a large number's floor are a PAN. OPA
    reads the number as it is written in the input JSON (orjson writes a float's shortest
    repr, as Python's `repr`): its floor is that decimal's, not the binary float's."""
    if not _NUMBER_FLOOR <= number < _NUMBER_CEILING:
        return False
    whole = number if isinstance(number, int) else int(Decimal(repr(number)))
    return _luhn(str(whole))


def _pan(text: str, budget: _Budget) -> bool:
    """pii.pan(text): a digit run of the text is a PAN, whole or in a window of its groups."""
    return any(_pan_run(run, budget) for run in _RUN.findall(text))


def _pan_run(run: str, budget: _Budget) -> bool:
    digits = run.replace(" ", "").replace("-", "")
    if len(digits) <= _PAN_DIGITS and _luhn(digits):
        return True
    groups = _SEPARATOR.split(run)
    if len(groups) > 1:
        budget.spend(len(groups))
    for start in range(len(groups)):
        digits = ""
        for group in groups[start : start + _PAN_DIGITS]:
            digits += group
            if len(digits) > _PAN_DIGITS:
                break
            if len(digits) >= 13 and _luhn(digits):
                return True
    return False


def _luhn(digits: str) -> bool:
    """pii.luhn(digits): the ASCII digits pass the mod 10 check and are not all zeros."""
    if not digits.strip("0"):
        return False
    data = digits.encode("ascii")
    doubled = data[-2::-2].translate(_DOUBLED)
    return (sum(data[-1::-2]) + sum(doubled) - 48 * len(data)) % 10 == 0
