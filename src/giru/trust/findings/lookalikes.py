"""Checks across a surface's names: look-alikes, normalization twins, references to tools."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from typing import Final

from giru.catalog.names import skeleton, valid_tool_name
from giru.trust.findings.surface import fold

__all__ = [
    "confusables",
    "mentions",
    "non_ascii",
    "normalization_twins",
    "reference_names",
    "words_of",
]

_IDENTIFIER: Final = re.compile(r"[a-z0-9][a-z0-9_.\-]{2,127}")
_SEPARATED: Final = re.compile(r"[a-z0-9][_.\-]|__")


def confusables(
    names: Sequence[str], known: Iterable[str] = (), approved: Iterable[str] = ()
) -> Iterator[tuple[int, str]]:
    """(index, the name it looks like) for each name whose skeleton, after folding look-alike
    letters, equals an earlier name's, an `approved` one's (this server's tools already
    approved) or a `known` tool's (of another server), but not the name. A name that is itself
    approved was compared when it was approved: it is not flagged again."""
    seen: dict[str, tuple[str, str]] = {}  # skeleton -> (name as compared, name as shown)
    exact = set(approved)
    for name in exact:
        seen.setdefault(_shape(name), (name, name))
    for name in known:
        for candidate in (name, name.partition("__")[2]):
            if candidate:
                seen.setdefault(_shape(candidate), (candidate, name))
    for index, name in enumerate(names):
        shape = _shape(name)
        other = seen.get(shape)
        if other is not None and other[0] != name and name not in exact:
            yield index, other[1]
        else:
            seen[shape] = (name, name)


def normalization_twins(
    names: Sequence[str], approved: Iterable[str] = ()
) -> Iterator[tuple[int, str]]:
    """(index, other name) for names whose NFKC forms equal an earlier or an `approved`,
    different name's."""
    exact = set(approved)
    seen: dict[str, str] = {unicodedata.normalize("NFKC", name): name for name in sorted(exact)}
    for index, name in enumerate(names):
        normal = unicodedata.normalize("NFKC", name)
        other = seen.get(normal)
        if other is not None and other != name and name not in exact:
            yield index, other
        else:
            seen.setdefault(normal, name)


def non_ascii(names: Sequence[str]) -> Iterator[int]:
    for index, name in enumerate(names):
        if not valid_tool_name(name) and not name.isascii():
            yield index


def reference_names(names: Iterable[str]) -> frozenset[str]:
    """The names worth looking for in text: with a separator, so `search` or `echo` used as
    words are not taken for tool names; `server__tool` also as its bare `tool`."""
    found: set[str] = set()
    for name in names:
        folded = name.casefold()
        for candidate in (folded, folded.partition("__")[2]):
            if candidate and _SEPARATED.search(candidate):
                found.add(candidate)
    return frozenset(found)


def words_of(text: str) -> frozenset[str]:
    """The identifier-like words of folded `text` (what a tool name could be)."""
    return frozenset(word.rstrip(".-") for word in _IDENTIFIER.findall(text))


def mentions(words: frozenset[str], names: frozenset[str], own: str) -> list[str]:
    """Which of `names` (other than `own`) are among `words`, at most 3, sorted."""
    return sorted((words & names) - {own.casefold()})[:3]


def _shape(name: str) -> str:
    return skeleton(fold(name))
