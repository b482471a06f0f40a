"""The rule pack: rules as data (`rules.yaml` in this package), validated once when loaded."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, Literal, cast, get_args

import yaml

from giru.errors import ConfigError
from giru.trust.findings.patterns import BoundedPattern, compile_bounded

__all__ = ["CHECKS", "SCOPES", "Limits", "Rule", "RulePack", "Scope", "Severity", "default_pack"]

Severity = Literal["low", "medium", "high"]
Scope = Literal["name", "title", "description", "annotations", "schema-name", "schema-text"]
Check = Literal[
    "characters",
    "pattern",
    "longer-than",
    "unscanned",
    "confusable-name",
    "normalization-name",
    "non-ascii-name",
    "sibling-reference",
    "foreign-reference",
]
SCOPES: Final = frozenset(get_args(Scope))
CHECKS: Final = frozenset(get_args(Check))
_SEVERITIES: Final = frozenset(get_args(Severity))
_TEXT: Final = frozenset({"title", "description", "annotations", "schema-text"})
_DEFAULT_SCOPES: Final[Mapping[str, frozenset[str]]] = {
    "characters": SCOPES,
    "pattern": _TEXT,
    "longer-than": frozenset({"description"}),
    "unscanned": SCOPES,
}
_NAME_CHECKS: Final = frozenset(
    {
        "confusable-name",
        "normalization-name",
        "non-ascii-name",
        "sibling-reference",
        "foreign-reference",
    }
)
_RULE_KEYS: Final = frozenset(
    {"id", "severity", "reason", "fields", "pattern", "unless", "characters", "longer-than",
     "check"}
)  # fmt: skip
_RANGE: Final = re.compile(r"^([0-9A-Fa-f]{2,6})(?:-([0-9A-Fa-f]{2,6}))?$")
_ID: Final = re.compile(r"^[a-z]+\.[a-z0-9-]+$")


@dataclass(frozen=True, slots=True)
class Limits:
    """What one scan reads at most: bounds on work and on output, whatever the input size."""

    field_chars: int = 16_384
    """Characters of one text field that are scanned (a longer one is an `unscanned` finding)."""
    schema_nodes: int = 2_000
    """JSON values of a tool's schemas walked (input and output together)."""
    schema_depth: int = 32
    findings_per_tool: int = 64
    excerpt_chars: int = 40


@dataclass(frozen=True, slots=True)
class Rule:
    """One check: what it matches (`check` and its argument), where, how bad, and why."""

    id: str
    severity: Severity
    reason: str
    check: Check
    fields: frozenset[str] = frozenset()
    pattern: BoundedPattern | None = None
    """`pattern`: matched on folded text."""
    characters: re.Pattern[str] | None = None
    """`characters`: a character class matched on raw text."""
    unless: BoundedPattern | None = None
    """A match whose text this also matches is a near-miss, not a finding."""
    limit: int = 0
    """`longer-than`: the threshold in characters."""

    @property
    def family(self) -> str:
        return self.id.partition(".")[0]


@dataclass(frozen=True, slots=True)
class RulePack:
    rules: tuple[Rule, ...]
    limits: Limits = Limits()

    @classmethod
    def from_yaml(cls, text: str) -> RulePack:
        """Parse and validate a pack; `ConfigError` names the first invalid rule and why."""
        document = yaml.safe_load(text)
        if not isinstance(document, dict) or document.get("version") != 1:
            raise ConfigError("rule pack: expected a mapping with `version: 1`")
        try:
            limits = Limits(**cast(dict[str, int], document.get("limits") or {}))
        except TypeError as exc:
            raise ConfigError(f"rule pack: invalid limits: {exc}") from exc
        raw = document.get("rules")
        if not isinstance(raw, list) or not raw:
            raise ConfigError("rule pack: `rules` must be a non-empty list")
        rules = tuple(_rule(item, index) for index, item in enumerate(raw))
        ids = [rule.id for rule in rules]
        duplicate = next((i for i in ids if ids.count(i) > 1), None)
        if duplicate is not None:
            raise ConfigError(f"rule pack: rule {duplicate!r} is defined twice")
        checks = [r.check for r in rules if r.check in _NAME_CHECKS or r.check == "unscanned"]
        twice = next((c for c in checks if checks.count(c) > 1), None)
        if twice is not None:
            raise ConfigError(f"rule pack: more than one rule with `check: {twice}`")
        return cls(rules=rules, limits=limits)

    def rule(self, rule_id: str) -> Rule:
        return next(rule for rule in self.rules if rule.id == rule_id)

    def with_threshold(self, rule_id: str, limit: int) -> RulePack:
        """The same pack with a `longer-than` rule's threshold changed (oversized descriptions)."""
        if limit < 1 or self.rule(rule_id).check != "longer-than":
            raise ConfigError(f"rule {rule_id!r} takes no threshold {limit!r}")
        rules = tuple(
            dataclasses.replace(r, limit=limit) if r.id == rule_id else r for r in self.rules
        )
        return dataclasses.replace(self, rules=rules)

    def with_limits(self, **limits: int) -> RulePack:
        return dataclasses.replace(self, limits=dataclasses.replace(self.limits, **limits))


@functools.cache
def default_pack() -> RulePack:
    """The shipped pack, loaded and validated once per process."""
    text = resources.files(__package__).joinpath("rules.yaml").read_text(encoding="utf-8")
    return RulePack.from_yaml(text)


def _rule(item: object, index: int) -> Rule:
    if not isinstance(item, dict):
        raise ConfigError(f"rule pack: rule #{index} is not a mapping")
    rule_id = item.get("id")
    where = f"rule pack: rule {rule_id!r}" if isinstance(rule_id, str) else f"rule #{index}"
    try:
        return _parsed(item)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _parsed(item: dict[str, Any]) -> Rule:
    unknown = set(item) - _RULE_KEYS
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    rule_id, severity, reason = item.get("id"), item.get("severity"), item.get("reason")
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        raise ValueError("`id` must look like `family.name`")
    if severity not in _SEVERITIES:
        raise ValueError(f"`severity` must be one of {sorted(_SEVERITIES)}")
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("`reason` is required")
    kinds = [k for k in ("pattern", "characters", "longer-than", "check") if k in item]
    if len(kinds) != 1:
        raise ValueError("exactly one of `pattern`, `characters`, `longer-than`, `check`")
    check = _check_of(kinds[0], item)
    fields = _fields(item.get("fields"), check)
    return Rule(
        id=rule_id,
        severity=cast(Severity, severity),
        reason=" ".join(reason.split()),
        check=check,
        fields=fields,
        pattern=compile_bounded(_text(item, "pattern")) if check == "pattern" else None,
        characters=_characters(item["characters"]) if check == "characters" else None,
        unless=compile_bounded(_text(item, "unless")) if "unless" in item else None,
        limit=_limit(item),
    )


def _check_of(kind: str, item: Mapping[str, Any]) -> Check:
    if kind != "check":
        return cast(Check, kind)
    check = item["check"]
    if check not in _NAME_CHECKS and check != "unscanned":
        raise ValueError(f"`check` must be one of {sorted(_NAME_CHECKS | {'unscanned'})}")
    return cast(Check, check)


def _fields(raw: object, check: Check) -> frozenset[str]:
    if check in _NAME_CHECKS:
        if raw is not None:
            raise ValueError(f"`{check}` looks at tool names only: no `fields`")
        return frozenset({"name"})
    if raw is None:
        return _DEFAULT_SCOPES[check]
    if not isinstance(raw, list) or not raw or not set(raw) <= SCOPES:
        raise ValueError(f"`fields` must be a non-empty list of {sorted(SCOPES)}")
    return frozenset(raw)


def _text(item: Mapping[str, Any], key: str) -> str:
    value = item[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"`{key}` must be a non-empty string")
    return value


def _characters(raw: object) -> re.Pattern[str]:
    return re.compile(f"[{''.join(_char_range(r) for r in _ranges(raw))}]")


def _ranges(raw: object) -> list[str]:
    if not isinstance(raw, list) or not raw or not all(isinstance(r, str) for r in raw):
        raise ValueError("`characters` must be a list of hex code points or ranges (`200B-200F`)")
    return cast(list[str], raw)


def _char_range(text: str) -> str:
    match = _RANGE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a code point or range like `200B-200F`")
    first = int(match.group(1), 16)
    last = int(match.group(2) or match.group(1), 16)
    if not first <= last <= 0x10FFFF:
        raise ValueError(f"{text!r} is not an ordered range of code points")
    return f"\\U{first:08x}-\\U{last:08x}"


def _limit(item: Mapping[str, Any]) -> int:
    limit = item.get("longer-than", 0)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValueError("`longer-than` must be a positive number of characters")
    if "longer-than" in item and limit < 1:
        raise ValueError("`longer-than` must be a positive number of characters")
    return limit
