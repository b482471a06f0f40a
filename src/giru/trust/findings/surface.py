"""The text a tool definition shows a model, as bounded fields, and its folded form for matching.

`fields_of` walks a definition (name, title, description, annotations, input and output schemas)
reading at most `Limits.field_chars` of each text and `Limits.schema_nodes` schema values, so a
1 MB definition costs what a 16 KiB one does. `fold` is what pattern rules see: NFKC, look-alike
Cyrillic and Greek letters as Latin, Unicode tag characters decoded to the ASCII they hide,
invisible characters removed, case folded, runs of white space as one space.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from giru.trust.findings.pack import Limits

__all__ = ["Field", "excerpt", "fields_of", "fold", "untagged"]

_LOOKALIKE_LETTERS: Final = "аеорсухіјѕԁԛԝӏɡαοιкνρτυχεАВЕКМНОРСТХІЈЅΑΒΕΖΗΙΚΜΝΟΡΤΥΧ"
_LATIN_LETTERS: Final = "aeopcyxijsdqwlgaoikvptuxeABEKMHOPCTXIJSABEZHIKMNOPTYX"
_LATIN_OF: Final = dict(zip(_LOOKALIKE_LETTERS, _LATIN_LETTERS, strict=True))
_LOOKALIKE: Final = re.compile(f"[{_LOOKALIKE_LETTERS}]")
_TAGS: Final = re.compile("[\U000e0020-\U000e007e]+")
_INVISIBLE: Final = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e0fff]"
)
_SCHEMA_KEYS_SKIPPED: Final = frozenset(
    {"type", "format", "$ref", "$schema", "$id", "required", "pattern", "additionalProperties"}
)
_PATH_PART_MAX: Final = 48
_NAME_MAX: Final = 256


@dataclass(frozen=True, slots=True)
class Field:
    """One piece of text of a definition: `path` says where (`inputSchema.properties.q.title`)."""

    scope: str
    path: str
    text: str
    truncated: bool = False
    """The field is longer than what is scanned (or a schema has more values than are walked)."""
    length: int = 0


def fold(text: str) -> str:
    """The form pattern rules match: look-alikes, hidden tag text and spacing tricks undone."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        if _TAGS.search(text):
            text = _TAGS.sub(lambda m: " " + _untag(m.group(0)) + " ", text)
        text = _INVISIBLE.sub("", _LOOKALIKE.sub(lambda m: _LATIN_OF[m.group(0)], text))
    return " ".join(text.casefold().split())


def excerpt(text: str, start: int, end: int, limit: int) -> str:
    """At most `limit` characters of `text[start:end]`, each invisible one shown by its code
    point (a zero-width space as `<U+200B>`)."""
    part = text[start : min(end, start + limit)]
    shown = "".join(c if c.isprintable() and c != "\u00ad" else f"<U+{ord(c):04X}>" for c in part)
    return shown + ("…" if end - start > limit else "")


def untagged(text: str) -> str:
    """The ASCII a run of Unicode tag characters spells (invisible in most renderers)."""
    return " ".join(_untag(m.group(0)) for m in _TAGS.finditer(text))


def _untag(run: str) -> str:
    return "".join(chr(ord(c) - 0xE0000) for c in run)


def fields_of(tool: Mapping[str, Any], limits: Limits) -> Iterator[Field]:
    """Every text field of `tool`, bounded by `limits` (never more than it says, whatever the
    input: long texts are cut, schemas are walked to a node and depth budget)."""
    for key in ("name", "title", "description"):
        value = tool.get(key)
        if isinstance(value, str):
            yield _field(key, key, value, limits)
    annotations = tool.get("annotations")
    if isinstance(annotations, Mapping):
        for key, value in itertools.islice(annotations.items(), 32):
            if isinstance(value, str):
                yield _field("annotations", f"annotations.{_part(key)}", value, limits)
    budget = [limits.schema_nodes]
    for key in ("inputSchema", "outputSchema"):
        schema = tool.get(key)
        if isinstance(schema, Mapping):
            yield from _schema(key, schema, limits, budget)


def _field(scope: str, path: str, text: str, limits: Limits) -> Field:
    cap = limits.field_chars
    return Field(scope, path, text[:cap], truncated=len(text) > cap, length=len(text))


def _part(key: object) -> str:
    text = str(key)
    return text if len(text) <= _PATH_PART_MAX else text[:_PATH_PART_MAX] + "…"


def _schema(
    root: str, schema: Mapping[str, Any], limits: Limits, budget: list[int]
) -> Iterator[Field]:
    stack: list[tuple[str, Any, int]] = [(root, schema, 0)]
    while stack:
        if budget[0] <= 0 or len(stack) > limits.schema_nodes:
            yield Field("schema-text", root, "", truncated=True)
            return
        path, value, depth = stack.pop()
        budget[0] -= 1
        if isinstance(value, str):
            yield _field("schema-text", path, value, limits)
        elif depth >= limits.schema_depth:
            yield Field("schema-text", path, "", truncated=True)
            return
        elif isinstance(value, Mapping):
            yield from _mapping(path, value, depth, budget, stack)
        elif isinstance(value, list):
            items = list(enumerate(value[: budget[0]]))
            stack.extend((f"{path}[{i}]", v, depth + 1) for i, v in reversed(items))


def _mapping(
    path: str,
    value: Mapping[str, Any],
    depth: int,
    budget: list[int],
    stack: list[tuple[str, Any, int]],
) -> Iterator[Field]:
    """A schema object's property names now, its values pushed for later (in order)."""
    later: list[tuple[str, Any, int]] = []
    for key, item in value.items():
        if budget[0] <= len(later):
            break
        if key in ("properties", "patternProperties") and isinstance(item, Mapping):
            for name, sub in item.items():
                if budget[0] <= len(later):
                    break
                here = f"{path}.{key}.{_part(name)}"
                budget[0] -= 1
                yield Field("schema-name", here, str(name)[:_NAME_MAX], length=len(str(name)))
                later.append((here, sub, depth + 1))
        elif key not in _SCHEMA_KEYS_SKIPPED:
            later.append((f"{path}.{_part(key)}", item, depth + 1))
    stack.extend(reversed(later))
