"""Rule patterns compiled only when Python's backtracking engine runs them in bounded time.

Catastrophic backtracking needs a quantified group that can match the same text in more than
one way, or a backreference; a pattern is refused unless every unbounded quantifier applies to
a single character (class) and every quantified group is bounded, small and has no unbounded
quantifier inside. Lookarounds may not repeat (a fixed, short text).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["BoundedPattern", "compile_bounded"]

_PARSER: Final[Any] = importlib.import_module("re._parser")  # `sre_parse` warns: deprecated
_ATOMS: Final = frozenset({"LITERAL", "NOT_LITERAL", "IN", "ANY", "CATEGORY", "RANGE"})
_REPEATS: Final = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})
_REFUSED: Final = frozenset({"GROUPREF", "GROUPREF_EXISTS", "GROUPREF_IGNORE"})
_GROUP_REPEAT_MAX: Final = 4
_UNBOUNDED: Final = int(_PARSER.MAXREPEAT)
_ZERO_WIDTH: Final = frozenset({"AT", "ASSERT", "ASSERT_NOT"})


@dataclass(frozen=True, slots=True)
class BoundedPattern:
    """A checked pattern with a cheap pre-test: a match starts with one of `literals` (when
    the pattern says so) and is at least `min_length` long, so most texts skip the regex."""

    regex: re.Pattern[str]
    literals: tuple[str, ...] | None
    min_length: int

    @property
    def pattern(self) -> str:
        return self.regex.pattern

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        """Matches left to right, not overlapping; with `literals`, the regex is only tried
        where one of them occurs (found by `str.find`, much faster than trying everywhere)."""
        if len(text) < self.min_length:
            return
        if self.literals is None:
            yield from self.regex.finditer(text)
            return
        upcoming = {lit: at for lit in self.literals if (at := text.find(lit)) >= 0}
        end = 0
        while upcoming:
            literal, position = min(upcoming.items(), key=_position)
            following = text.find(literal, position + 1)
            if following < 0:
                del upcoming[literal]
            else:
                upcoming[literal] = following
            match = self.regex.match(text, position) if position >= end else None
            if match is not None:
                yield match
                end = max(match.end(), position + 1)

    def search(self, text: str) -> re.Match[str] | None:
        return next(self.finditer(text), None)


def _position(item: tuple[str, int]) -> int:
    return item[1]


def compile_bounded(pattern: str) -> BoundedPattern:
    """Compile `pattern` if it runs in bounded time, else `ValueError`. It is matched as
    written (case-sensitive): rules match folded, lower-case text."""
    try:
        tree = _PARSER.parse(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from exc
    _check(list(tree), inside_group_repeat=False)
    literals = _first_literals(list(tree))
    return BoundedPattern(
        regex=re.compile(pattern),
        literals=tuple(sorted(literals)) if literals else None,
        min_length=int(tree.getwidth()[0]),
    )


def _check(items: list[tuple[Any, Any]], *, inside_group_repeat: bool) -> None:
    for op, argument in items:
        name = str(op)
        if name in _REFUSED:
            raise ValueError("backreferences are not allowed")
        if name in _REPEATS:
            _check_repeat(argument, inside_group_repeat=inside_group_repeat)
        elif name == "SUBPATTERN":
            _check(list(argument[-1]), inside_group_repeat=inside_group_repeat)
        elif name == "BRANCH":
            for branch in argument[1]:
                _check(list(branch), inside_group_repeat=inside_group_repeat)
        elif name in ("ASSERT", "ASSERT_NOT"):
            if _has_repeat(list(argument[1])):
                raise ValueError("a lookaround may not repeat")
        elif name == "ATOMIC_GROUP":
            _check(list(argument), inside_group_repeat=inside_group_repeat)


def _has_repeat(items: list[tuple[Any, Any]]) -> bool:
    for op, argument in items:
        name = str(op)
        if name in _REPEATS:
            return True
        if name == "SUBPATTERN" and _has_repeat(list(argument[-1])):
            return True
        if name == "BRANCH" and any(_has_repeat(list(b)) for b in argument[1]):
            return True
        if name in ("ASSERT", "ASSERT_NOT") and _has_repeat(list(argument[1])):
            return True
    return False


def _check_repeat(argument: tuple[int, int, Any], *, inside_group_repeat: bool) -> None:
    low, high, body = argument
    items = list(body)
    if len(items) == 1 and str(items[0][0]) in _ATOMS:
        if high == _UNBOUNDED and inside_group_repeat:
            raise ValueError("an unbounded quantifier inside a quantified group")
        return
    if high == _UNBOUNDED or high > _GROUP_REPEAT_MAX:
        raise ValueError(
            f"a quantified group must be bounded by at most {_GROUP_REPEAT_MAX} (got {low}..)"
        )
    _check(items, inside_group_repeat=True)


def _first_literals(items: list[tuple[Any, Any]]) -> set[str] | None:
    """Strings one of which every match starts with; None when no such set is obvious."""
    run: list[str] = []
    for position, (op, argument) in enumerate(items):
        name = str(op)
        if name in _ZERO_WIDTH and not run:
            continue
        if name == "LITERAL":
            run.append(chr(argument))
            continue
        if run:  # a common prefix the parser factored out of alternatives: try to go on
            rest = _first_literals(items[position:])
            prefix = "".join(run)
            return {prefix + r for r in rest} if rest else {prefix}
        if name == "SUBPATTERN":
            return _first_literals(list(argument[-1]))
        if name == "BRANCH":
            return _branches(argument[1])
        return None
    return {"".join(run)} if run else None


def _branches(branches: list[Any]) -> set[str] | None:
    found: set[str] = set()
    for branch in branches:
        literals = _first_literals(list(branch))
        if literals is None:
            return None
        found |= literals
    return found
