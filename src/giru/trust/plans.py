"""What to do with a surface a server offers, given what was approved: pure decisions, no I/O.

Per tool: its offered definition's hash equals the pinned one → served; otherwise held, with one
review entry per tool (the latest offer wins; a rejected offer stays rejected until the server
offers something else). The first surface a server shows is pinned whole under `pin` (trust on
first use, except tools with a high-severity finding), held whole under `review`; `auto` pins
whatever is offered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

from giru.trust.surface import Change

__all__ = [
    "MAX_TOOLS",
    "MODES",
    "Detection",
    "Finding",
    "Hold",
    "Known",
    "Mode",
    "Offer",
    "Plan",
    "Review",
    "ReviewState",
    "plan",
    "screen",
]

Mode = Literal["pin", "review", "auto"]
MODES: Final = ("pin", "review", "auto")
ReviewState = Literal["pending", "rejected"]
MAX_TOOLS: Final = 4096
"""Tools of one server Giru records; the ones a server lists beyond them are held unrecorded."""


class Finding(Protocol):
    """A poisoning check's verdict on one tool (`giru.trust.findings`)."""

    @property
    def tool(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def reason(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Offer:
    """One tool as a server lists it now."""

    name: str
    hash: str
    size: int
    definition: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Review:
    """A tool's one review entry: the latest change offered, pending or rejected."""

    state: ReviewState
    change: Change
    hash: str
    """The offered definition's hash ("" for a removal)."""


@dataclass(frozen=True, slots=True)
class Known:
    """A server's recorded trust state."""

    baseline: bool = False
    """Giru has seen (and pinned or held) this server's first surface."""
    pins: Mapping[str, str] = field(default_factory=dict)
    """Approved hash per tool."""
    reviews: Mapping[str, Review] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hold:
    """Why an offered tool is not served."""

    state: Literal["pending", "rejected", "unrecorded"]
    change: Change


@dataclass(frozen=True, slots=True)
class Detection:
    """A review entry to write: `offer` None for a removal; `new`: a transition to audit (a
    change now pending that was not), else the latest offer replacing an earlier one."""

    tool: str
    change: Change
    offer: Offer | None
    findings: tuple[Finding, ...]
    new: bool


@dataclass(frozen=True, slots=True)
class Plan:
    served: frozenset[str]
    held: Mapping[str, Hold]
    pins: tuple[Offer, ...] = ()
    """Offers to pin now (first surface under `pin`, or `auto`)."""
    detections: tuple[Detection, ...] = ()
    baseline: bool = False
    """Record that the first surface was seen."""
    overflow: int = 0
    """Tools listed beyond `MAX_TOOLS` (held, not recorded)."""

    @property
    def writes(self) -> bool:
        return bool(self.pins or self.detections or self.baseline)


def plan(
    mode: Mode,
    known: Known,
    offers: Sequence[Offer],
    findings: Mapping[str, Sequence[Finding]],
    *,
    max_tools: int = MAX_TOOLS,
) -> Plan:
    """The decisions for `offers` (in listed order, names unique)."""
    kept, extra = offers[:max_tools], offers[max_tools:]
    held: dict[str, Hold] = {o.name: Hold("unrecorded", "added") for o in extra}
    if mode == "auto":
        pins = tuple(o for o in kept if known.pins.get(o.name) != o.hash)
        everything = frozenset(o.name for o in kept)
        return Plan(everything, held, pins, baseline=not known.baseline, overflow=len(extra))
    if not known.baseline:
        return _first_surface(mode, kept, findings, held, len(extra))
    served: set[str] = set()
    detections: list[Detection] = []
    for offer in kept:
        pinned = known.pins.get(offer.name)
        if pinned == offer.hash:
            served.add(offer.name)
            continue
        change: Change = "added" if pinned is None else "changed"
        review = known.reviews.get(offer.name)
        if review is not None and review.hash == offer.hash:
            held[offer.name] = Hold(review.state, review.change)
            continue
        new = review is None or review.state == "rejected"
        found = tuple(findings.get(offer.name, ()))
        detections.append(Detection(offer.name, change, offer, found, new))
        held[offer.name] = Hold("pending", change)
    offered = {o.name for o in offers}
    for name in known.pins:
        review = known.reviews.get(name)
        if name in offered or (review is not None and review.change == "removed"):
            continue
        new = review is None or review.state == "rejected"
        detections.append(Detection(name, "removed", None, (), new))
    return Plan(frozenset(served), held, detections=tuple(detections), overflow=len(extra))


def screen(
    mode: Mode, known: Known, offers: Sequence[Offer], *, max_tools: int = MAX_TOOLS
) -> Plan:
    """What may be served from what is recorded alone, when recording is not possible (the
    store is down): approved definitions only; nothing is pinned on first use."""
    kept, extra = offers[:max_tools], offers[max_tools:]
    held: dict[str, Hold] = {o.name: Hold("unrecorded", "added") for o in extra}
    served: set[str] = set()
    for offer in kept:
        pinned = known.pins.get(offer.name)
        if mode == "auto" or pinned == offer.hash:
            served.add(offer.name)
            continue
        review = known.reviews.get(offer.name)
        change: Change = "added" if pinned is None else "changed"
        if review is not None and review.hash == offer.hash:
            held[offer.name] = Hold(review.state, review.change)
        else:
            held[offer.name] = Hold("unrecorded", change)
    return Plan(frozenset(served), held, overflow=len(extra))


def _first_surface(
    mode: Mode,
    offers: Sequence[Offer],
    findings: Mapping[str, Sequence[Finding]],
    held: dict[str, Hold],
    overflow: int,
) -> Plan:
    pins: list[Offer] = []
    detections: list[Detection] = []
    for offer in offers:
        found = tuple(findings.get(offer.name, ()))
        if mode == "pin" and not any(f.severity == "high" for f in found):
            pins.append(offer)
            continue
        detections.append(Detection(offer.name, "added", offer, found, True))
        held[offer.name] = Hold("pending", "added")
    served = frozenset(o.name for o in pins)
    return Plan(served, held, tuple(pins), tuple(detections), baseline=True, overflow=overflow)
