"""The labelled poisoning corpus (corpus/*.yaml) and how the scanner scores on it; shared by
the corpus test and `python -m bench.trust`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from giru.trust.findings import SEVERITY_RANK, Finding, Scanner, flagged

__all__ = ["CORPUS", "Case", "Score", "findings_of", "load_corpus", "score"]

CORPUS = Path(__file__).resolve().parent / "corpus"


@dataclass(frozen=True)
class Case:
    id: str
    poisoned: bool
    server: str
    tools: list[dict[str, Any]]
    target: str
    families: frozenset[str] = frozenset()
    known_tools: tuple[str, ...] = ()
    approved_tools: tuple[str, ...] = ()
    """The server's own tools already approved (`tools` is then what changed)."""


@dataclass
class Score:
    """Counts at the decision threshold (a target with a medium or high finding is flagged)."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    true_negatives: int = 0
    missed: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)
    wrong_family: list[str] = field(default_factory=list)
    rule_hits: Counter[str] = field(default_factory=Counter)

    @property
    def precision(self) -> float:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 0.0

    @property
    def recall(self) -> float:
        poisoned = self.true_positives + self.false_negatives
        return self.true_positives / poisoned if poisoned else 0.0


def load_corpus(directory: Path = CORPUS) -> list[Case]:
    cases: list[Case] = []
    for name, poisoned in (("poisoned.yaml", True), ("clean.yaml", False)):
        document = yaml.safe_load((directory / name).read_text(encoding="utf-8"))
        cases += [_case(raw, poisoned) for raw in document["cases"]]
    return cases


def _case(raw: dict[str, Any], poisoned: bool) -> Case:
    tools: list[dict[str, Any]] = raw["tools"]
    pad = raw.get("pad")
    if pad is not None:
        tool = tools[0]
        text = tool[pad["field"]]
        repeats = (pad["chars"] - len(text)) // len(pad["filler"]) + 1
        tool[pad["field"]] = (text + pad["filler"] * repeats)[: pad["chars"]]
    return Case(
        id=raw["id"],
        poisoned=poisoned,
        server=raw["server"],
        tools=tools,
        target=raw.get("target", tools[0]["name"]),
        families=frozenset(raw.get("families", ())),
        known_tools=tuple(raw.get("known_tools", ())),
        approved_tools=tuple(raw.get("approved_tools", ())),
    )


def findings_of(scanner: Scanner, case: Case) -> list[Finding]:
    found = scanner.scan(
        case.server, case.tools, known_tools=case.known_tools, approved_tools=case.approved_tools
    )
    return [f for f in found if f.tool == case.target]


def score(scanner: Scanner, cases: Sequence[Case]) -> Score:
    result = Score()
    for case in cases:
        found = findings_of(scanner, case)
        result.rule_hits.update(f.rule for f in found)
        hit = flagged(found)
        if case.poisoned and hit:
            result.true_positives += 1
            families = {f.family for f in found if SEVERITY_RANK[f.severity] >= 1}
            if not families & case.families:
                result.wrong_family.append(f"{case.id}: {sorted(families)}")
        elif case.poisoned:
            result.false_negatives += 1
            result.missed.append(case.id)
        elif hit:
            result.false_positives += 1
            result.false_alarms.append(f"{case.id}: {sorted(f.rule for f in found)}")
        else:
            result.true_negatives += 1
    return result
