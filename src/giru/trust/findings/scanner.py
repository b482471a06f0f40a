"""Scan a server's tool surface with a rule pack: one finding per rule and field that fires."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from giru.trust.findings import lookalikes
from giru.trust.findings.pack import SCOPES, Limits, Rule, RulePack, Severity, default_pack
from giru.trust.findings.surface import Field, excerpt, fields_of, fold, untagged

__all__ = ["SEVERITY_RANK", "Finding", "Scanner", "flagged", "scan", "worst"]

SEVERITY_RANK: Final[Mapping[str, int]] = {"low": 0, "medium": 1, "high": 2}
_UNLESS_AROUND: Final = 40
_MATCHES_TRIED: Final = 8


@dataclass(frozen=True, slots=True)
class Finding:
    """Something in a tool definition worth a reviewer's eye. `field` says where
    (`description`, `name`, `annotations.title`, `inputSchema.properties.key`); `reason`
    quotes at most a short excerpt."""

    tool: str
    rule: str
    severity: Severity
    reason: str
    field: str

    @property
    def family(self) -> str:
        return self.rule.partition(".")[0]


def worst(findings: Iterable[Finding]) -> Severity | None:
    """The highest severity among `findings`, None when there are none."""
    top: Severity | None = None
    for finding in findings:
        if top is None or SEVERITY_RANK[finding.severity] > SEVERITY_RANK[top]:
            top = finding.severity
    return top


def flagged(findings: Iterable[Finding]) -> bool:
    """The decision threshold: a definition is flagged when a finding is medium or high."""
    return any(SEVERITY_RANK[f.severity] >= SEVERITY_RANK["medium"] for f in findings)


def scan(
    server: str,
    tools: Sequence[Mapping[str, Any]],
    *,
    known_tools: Iterable[str] = (),
    approved_tools: Iterable[str] = (),
    pack: RulePack | None = None,
) -> list[Finding]:
    """Findings for `tools` (one server's `tools/list`, or the part of it not yet approved), in
    tool order. `known_tools`: names of other servers' tools (`server__tool` or bare), for
    look-alike and reference checks. `approved_tools`: names of this server's tools already
    approved (when `tools` is only what changed): a new name that looks like one of them is a
    look-alike; a description that names one is a sibling reference, not a foreign one."""
    return Scanner(pack or default_pack()).scan(
        server, tools, known_tools=known_tools, approved_tools=approved_tools
    )


class Scanner:
    """A rule pack ready to scan: rules sorted by what they look at, compiled once."""

    def __init__(self, pack: RulePack) -> None:
        self.pack = pack
        self._field_rules = tuple(
            r
            for r in pack.rules
            if r.check in ("characters", "pattern", "longer-than", "unscanned")
        )
        self._by_scope = {
            scope: tuple(r for r in self._field_rules if scope in r.fields) for scope in SCOPES
        }
        self._name_rules: dict[str, Rule] = {
            r.check: r for r in pack.rules if r not in self._field_rules
        }

    def scan(
        self,
        server: str,
        tools: Sequence[Mapping[str, Any]],
        *,
        known_tools: Iterable[str] = (),
        approved_tools: Iterable[str] = (),
    ) -> list[Finding]:
        names = [_name_of(tool, index) for index, tool in enumerate(tools)]
        known = list(known_tools)
        approved = list(approved_tools)
        per_tool: list[list[Finding]] = [[] for _ in tools]
        self._names(names, known, approved, per_tool)
        own = lookalikes.reference_names([*names, *approved])
        foreign = lookalikes.reference_names(known) - own
        limit = self.pack.limits.findings_per_tool
        for index, tool in enumerate(tools):
            if not isinstance(tool, Mapping):
                continue
            found = per_tool[index]
            for finding in self._fields(names[index], tool, own, foreign):
                if len(found) >= limit:
                    break
                found.append(finding)
        return [finding for found in per_tool for finding in found[:limit]]

    def _names(
        self, names: list[str], known: list[str], approved: list[str], per_tool: list[list[Finding]]
    ) -> None:
        limits = self.pack.limits
        checks: list[tuple[str, Iterator[tuple[int, str]]]] = [
            ("confusable-name", lookalikes.confusables(names, known, approved)),
            ("normalization-name", lookalikes.normalization_twins(names, approved)),
            ("non-ascii-name", ((i, "") for i in lookalikes.non_ascii(names))),
        ]
        for check, hits in checks:
            rule = self._name_rules.get(check)
            if rule is None:
                continue
            for index, other in hits:
                like = f" Looks like {_quote(other, limits)}." if other else ""
                shown = _quote(names[index], limits)
                per_tool[index].append(
                    _finding(names[index], rule, f"{rule.reason}{like} Name: {shown}.", "name")
                )

    def _fields(
        self, name: str, tool: Mapping[str, Any], own: frozenset[str], foreign: frozenset[str]
    ) -> Iterator[Finding]:
        limits = self.pack.limits
        for field in fields_of(tool, limits):
            folded: str | None = None
            for rule in self._by_scope[field.scope]:
                if rule.check == "pattern":
                    folded = fold(field.text) if folded is None else folded
                    shown = _pattern_match(rule, folded, limits)
                else:
                    shown = _other_match(rule, field, limits)
                if shown is not None:
                    yield _finding(name, rule, f"{rule.reason} {shown}", field.path)
            if field.scope == "description":
                folded = fold(field.text) if folded is None else folded
                yield from self._references(name, folded, own, foreign)

    def _references(
        self, name: str, text: str, own: frozenset[str], foreign: frozenset[str]
    ) -> Iterator[Finding]:
        words = lookalikes.words_of(text) if own or foreign else frozenset()
        for check, names in (("foreign-reference", foreign), ("sibling-reference", own)):
            rule = self._name_rules.get(check)
            found = lookalikes.mentions(words, names, name) if rule is not None else []
            if rule is not None and found:
                quoted = ", ".join(_quote(n, self.pack.limits) for n in found)
                yield _finding(name, rule, f"{rule.reason} Names: {quoted}.", "description")


def _pattern_match(rule: Rule, text: str, limits: Limits) -> str | None:
    assert rule.pattern is not None
    for count, match in enumerate(rule.pattern.finditer(text)):
        if count == _MATCHES_TRIED:
            return None
        window = text[max(0, match.start() - _UNLESS_AROUND) : match.end() + _UNLESS_AROUND]
        if rule.unless is not None and rule.unless.search(window):
            continue
        return f"Matched: “{excerpt(text, match.start(), match.end(), limits.excerpt_chars)}”."
    return None


def _other_match(rule: Rule, field: Field, limits: Limits) -> str | None:
    if rule.check == "characters":
        assert rule.characters is not None
        if field.text.isascii():
            return None
        hits = rule.characters.findall(field.text)
        if not hits:
            return None
        codes = ", ".join(sorted({f"U+{ord(c):04X}" for c in hits})[:4])
        hidden = untagged(field.text) if rule.id == "unicode.tag-characters" else ""
        told = (
            f" They spell: “{excerpt(hidden, 0, len(hidden), limits.excerpt_chars)}”."
            if hidden
            else ""
        )
        return f"Found {len(hits)} ({codes}).{told}"
    if rule.check == "longer-than":
        return f"Length: {field.length:,} characters." if field.length > rule.limit else None
    if field.truncated:  # unscanned
        return (
            f"Scanned: the first {limits.field_chars:,} characters of a field, "
            f"{limits.schema_nodes:,} schema values, {limits.schema_depth} levels."
        )
    return None


def _finding(tool: str, rule: Rule, reason: str, field: str) -> Finding:
    return Finding(tool=tool, rule=rule.id, severity=rule.severity, reason=reason, field=field)


def _quote(name: str, limits: Limits) -> str:
    return f"“{excerpt(name, 0, len(name), limits.excerpt_chars)}”"


def _name_of(tool: Mapping[str, Any], index: int) -> str:
    name = tool.get("name") if isinstance(tool, Mapping) else None
    return name[:128] if isinstance(name, str) and name else f"#{index}"
