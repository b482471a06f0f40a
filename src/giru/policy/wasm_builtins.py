"""The builtins OPA's Wasm target leaves to the host, with OPA's (Go's) semantics.

OPA's compiled policies import the builtins it does not implement in Wasm (`opa_builtin0..4`);
the shipped packs need `sprintf`, `regex.find_n`, `regex.split`, `time.clock` and
`time.parse_rfc3339_ns`. `sprintf` reads its values as Rego text (`parse_rego`), so that a set
prints as a set, sorted, as OPA prints it. A `BuiltinError` is what OPA makes of a builtin's
error outside strict mode: the expression is undefined. What cannot be reproduced exactly (a
`sprintf` verb beyond %s, %v, %d) raises `UnsupportedBuiltinError`, which fails the decision
closed instead of answering differently from OPA.
"""

from __future__ import annotations

import calendar
import datetime
import functools
import re
import zoneinfo
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

import orjson

__all__ = [
    "BUILTINS",
    "REGO_TEXT",
    "BuiltinError",
    "RegoSet",
    "UnsupportedBuiltinError",
    "go_sprintf",
    "parse_rego",
]


class BuiltinError(Exception):
    """The builtin fails as OPA's would: the expression is undefined."""


class UnsupportedBuiltinError(RuntimeError):
    """A use OPA's semantics are not reproduced for: the decision fails closed."""


_VERB: Final = re.compile(r"%(.)", re.DOTALL)
_RFC3339: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})",
    re.ASCII,
)


def _go_float(value: float) -> str:
    """Go's `%v` of a float64 (`%g`, shortest digits): the exponent form below 1e-4 and from
    1e6 on."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if str(value).startswith("-") else "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    scientific = len(text) + exponent - 1
    prefix = "-" if sign else ""
    if scientific < -4 or scientific >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'+' if scientific >= 0 else '-'}{abs(scientific):02d}"
    return prefix + format(Decimal(repr(abs(value))).normalize(), "f")


class RegoSet(tuple[Any, ...]):
    """A set of Rego values (JSON has none: `opa_json_dump` writes sets as arrays)."""

    __slots__ = ()


_TOKEN: Final = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>-?[0-9][0-9.eE+-]*)'
    r"|(?P<word>null|true|false|set\(\))|(?P<punct>[][{},:]))"
)
_WORDS: Final[dict[str, Any]] = {"null": None, "true": True, "false": False}


def parse_rego(text: str) -> Any:
    """A value as `opa_value_dump` writes it (Rego syntax: JSON plus sets, `set()`)."""
    tokens = list(_TOKEN.finditer(text))
    if "".join(m[0] for m in tokens).strip() != text.strip():
        raise _unknown()
    reader = _Reader(tokens)
    try:
        parsed = reader.value()
    except (IndexError, KeyError, TypeError, orjson.JSONDecodeError):
        raise _unknown() from None
    if reader.position != len(tokens):
        raise _unknown()
    return parsed


class _Reader:
    """Recursive descent over the tokens of a Rego value."""

    def __init__(self, tokens: list[re.Match[str]]) -> None:
        self.tokens = tokens
        self.kinds = [m["punct"] or "" for m in tokens] + ["<end>"]
        self.position = 0

    def value(self) -> Any:
        token = self.tokens[self.position]
        self.position += 1
        if token["string"] is not None or token["number"] is not None:
            return orjson.loads(token[0])
        if token["word"] is not None:
            return RegoSet() if token["word"] == "set()" else _WORDS[token["word"]]
        if token["punct"] == "[":
            return self.sequence("]", [])
        if token["punct"] != "{":
            raise _unknown()
        if self.skip("}"):
            return {}
        first = self.value()
        if not self.skip(":"):
            return RegoSet(self.sequence("}", [first]))
        found = {first: self.value()}
        while self.skip(","):
            key = self.value()
            self.expect(":")
            found[key] = self.value()
        self.expect("}")
        return found

    def sequence(self, end: str, found: list[Any]) -> list[Any]:
        if not found and self.skip(end):
            return found
        if not found:
            found.append(self.value())
        while self.skip(","):
            found.append(self.value())
        self.expect(end)
        return found

    def skip(self, kind: str) -> bool:
        if self.kinds[self.position] != kind:
            return False
        self.position += 1
        return True

    def expect(self, kind: str) -> None:
        if not self.skip(kind):
            raise _unknown()


def _unknown() -> UnsupportedBuiltinError:
    return UnsupportedBuiltinError("a value OPA's Wasm wrote in an unknown form")


_RANK: Final = {type(None): 0, bool: 1, int: 2, float: 2, str: 3, list: 6, dict: 7, RegoSet: 8}


def _order(value: Any) -> tuple[Any, ...]:
    """The sort key of a Rego value: OPA's order of types, then of values."""
    rank = _RANK[type(value)]
    if isinstance(value, RegoSet):
        return (rank, tuple(sorted(map(_order, value))))
    if isinstance(value, list):
        return (rank, tuple(map(_order, value)))
    if isinstance(value, dict):
        return (rank, tuple(sorted((_order(k), _order(v)) for k, v in value.items())))
    return (rank, value)


def _rego_text(value: Any) -> str:
    """Go OPA's text of a value (`ast.Value.String()`): sets and object keys sorted."""
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if isinstance(value, RegoSet):
        members = sorted(value, key=_order)
        return "{" + ", ".join(map(_rego_text, members)) + "}" if members else "set()"
    if isinstance(value, list):
        return "[" + ", ".join(map(_rego_text, value)) + "]"
    if isinstance(value, dict):
        pairs = sorted(value.items(), key=lambda pair: _order(pair[0]))
        return "{" + ", ".join(f"{_rego_text(k)}: {_rego_text(v)}" for k, v in pairs) + "}"
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    return str(value) if isinstance(value, int) else _go_float(value)


def _format(verb: str, value: Any) -> str:
    """One `%<verb>` of OPA's sprintf: numbers as Go integers or float64, strings as is, other
    values as their Rego text."""
    if isinstance(value, list | dict | RegoSet):
        if verb in "sv":
            return _rego_text(value)
        raise UnsupportedBuiltinError(f"sprintf %{verb} of a {type(value).__name__}")
    if isinstance(value, bool) or value is None:
        text = "null" if value is None else str(value).lower()
        if verb in "sv":
            return text
        raise UnsupportedBuiltinError(f"sprintf %{verb} of a non-number")
    if isinstance(value, int):
        if verb in "sdv":
            return str(value)
    elif isinstance(value, float):
        if verb == "d" and value.is_integer():  # an integer OPA's Wasm holds as a double
            return str(int(value))
        if verb == "v":
            return _go_float(value)
    elif isinstance(value, str) and verb in "sv":
        return value
    raise UnsupportedBuiltinError(f"sprintf %{verb} of a {type(value).__name__}")


_END: Final = object()


def go_sprintf(pattern: Any, values: Any) -> str:
    """OPA's `sprintf(format, values)` for the verbs %s, %v, %d and %%."""
    if not isinstance(pattern, str) or not isinstance(values, list):
        raise BuiltinError("sprintf: operand types")
    remaining = iter(values)

    def one(match: re.Match[str]) -> str:
        verb = match[1]
        if verb == "%":
            return "%"
        if verb not in "sdv":
            raise UnsupportedBuiltinError(f"sprintf verb %{verb}")
        try:
            return _format(verb, next(remaining))
        except StopIteration:
            raise UnsupportedBuiltinError("sprintf with too few values") from None

    text = _VERB.sub(one, pattern)
    if next(remaining, _END) is not _END:
        raise UnsupportedBuiltinError("sprintf with too many values")
    return text


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.ASCII)
    except re.error as exc:
        raise BuiltinError(f"regex: {exc}") from None


def _spans(pattern: Any, value: Any, limit: int) -> list[tuple[int, int]]:
    """Go's `FindAllStringIndex`: an empty match right after a match is skipped."""
    if not isinstance(pattern, str) or not isinstance(value, str):
        raise BuiltinError("regex: operand types")
    spans: list[tuple[int, int]] = []
    previous = -1
    for match in _compiled(pattern).finditer(value):
        if limit >= 0 and len(spans) >= limit:
            break
        start, end = match.span()
        if start == end and start == previous:
            continue
        spans.append((start, end))
        previous = end
    return spans


def _find_n(pattern: Any, value: Any, number: Any) -> list[str]:
    if isinstance(number, bool) or not isinstance(number, int):
        raise BuiltinError("regex.find_n: operand types")
    return [value[start:end] for start, end in _spans(pattern, value, number)]


def _split(pattern: Any, value: Any) -> list[str]:
    """Go's `Regexp.Split(s, -1)`."""
    if isinstance(value, str) and value == "" and pattern != "":
        return [""]
    pieces: list[str] = []
    begin = end = 0
    for start, stop in _spans(pattern, value, -1):
        end = start
        if stop != 0:
            pieces.append(value[begin:end])
        begin = stop
    if end != len(value):
        pieces.append(value[begin:])
    return pieces


def _parse_rfc3339_ns(value: Any) -> int:
    matched = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if matched is None:
        raise BuiltinError("time.parse_rfc3339_ns: not RFC 3339")
    year, month, day, hour, minute, second = (int(matched[i]) for i in range(1, 7))
    try:
        datetime.datetime(year, month, day, hour, minute, second)  # ranges, as Go checks them
    except ValueError as exc:
        raise BuiltinError(f"time.parse_rfc3339_ns: {exc}") from None
    offset = 0
    if matched[8] != "Z":
        hours, minutes = int(matched[8][1:3]), int(matched[8][4:6])
        if hours >= 24 or minutes >= 60:
            raise BuiltinError("time.parse_rfc3339_ns: offset out of range")
        offset = (hours * 3600 + minutes * 60) * (-1 if matched[8][0] == "-" else 1)
    seconds = calendar.timegm((year, month, day, hour, minute, second)) - offset
    return seconds * 1_000_000_000 + int((matched[7] or "0").ljust(9, "0"))


def _zone(name: str) -> datetime.tzinfo | None:
    if name in ("", "UTC"):
        return datetime.UTC
    if name == "Local":
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise BuiltinError(f"time: unknown time zone {name}") from exc


def _clock(value: Any) -> list[int]:
    """OPA's `time.clock(ns)` / `time.clock([ns, tz])`: [hour, minute, second] in the zone."""
    ns, tz = (value[0], value[1]) if isinstance(value, list) and len(value) == 2 else (value, "")
    if isinstance(ns, bool) or not isinstance(ns, int) or not isinstance(tz, str):
        raise BuiltinError("time.clock: operand types")
    zone = _zone(tz)
    moment = datetime.datetime.fromtimestamp(ns // 1_000_000_000, tz=zone or datetime.UTC)
    if zone is None:
        moment = moment.astimezone()
    return [moment.hour, moment.minute, moment.second]


REGO_TEXT: Final = frozenset({"sprintf"})
"""Builtins whose operands are read as Rego text (`opa_value_dump`, sets kept), not JSON."""
BUILTINS: Final[dict[str, Callable[..., Any]]] = {
    "sprintf": go_sprintf,
    "regex.find_n": _find_n,
    "regex.split": _split,
    "time.parse_rfc3339_ns": _parse_rfc3339_ns,
    "time.clock": _clock,
}
