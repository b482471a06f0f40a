"""The hash chain of audit records (sans-IO): linking at drain time, verifying afterwards.

Each node's records form one chain: `seq` counts from 1 without gaps, and
`hash = sha256(prev_hash + canonical JSON of the record with its node and seq)` (hex), where
`prev_hash` is the previous record's hash and 64 zeros for seq 1. The canonical JSON is the
record's fields (`event_id`, `at`, `node`, `seq`, `actor`, `action`, `server`, `target`,
`outcome`, `reasons`, `policy_revision`, `source_ip`, `details`) with sorted keys, no blanks,
UTF-8, and `at` as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (see docs/audit.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson

from giru.audit.records import AuditRecord, ChainedRecord

__all__ = [
    "GENESIS",
    "Head",
    "Problem",
    "Verification",
    "Verifier",
    "canonical",
    "link",
    "record_hash",
]

GENESIS: Final = "0" * 64
"""The `prev_hash` of every chain's first record."""
_HASHED: Final = (
    "event_id",
    "at",
    "node",
    "actor",
    "action",
    "server",
    "target",
    "outcome",
    "reasons",
    "policy_revision",
    "source_ip",
    "details",
)


@dataclass(frozen=True, slots=True)
class Head:
    """The newest record of a chain: its `seq` and `hash` (seq 0 and `GENESIS`: no record)."""

    seq: int = 0
    hash: str = GENESIS


def canonical(record: Mapping[str, Any], seq: int) -> bytes:
    """The bytes a record's hash covers: its fields and `seq`, as canonical JSON."""
    document = {name: record[name] for name in _HASHED}
    document["seq"] = seq
    document["at"] = _instant(record["at"])
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def record_hash(prev_hash: str, record: Mapping[str, Any], seq: int) -> str:
    """sha256(prev_hash + canonical(record, seq)) in lower-case hex."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(record, seq)).hexdigest()


def _instant(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def link(
    records: Iterable[AuditRecord], heads: Mapping[str, Head]
) -> tuple[list[ChainedRecord], dict[str, Head]]:
    """Chain `records` in order after `heads` (a node without one starts at seq 1); a record
    whose event id came earlier in `records` is left out. Returns the chained records and the
    new head of every node they touched."""
    moved: dict[str, Head] = {}
    seen: set[str] = set()
    chained: list[ChainedRecord] = []
    for record in records:
        if record["event_id"] in seen:
            continue
        seen.add(record["event_id"])
        node = record["node"]
        head = moved.get(node) or heads.get(node) or Head()
        seq = head.seq + 1
        digest = record_hash(head.hash, record, seq)
        chained.append({**record, "seq": seq, "prev_hash": head.hash, "hash": digest})
        moved[node] = Head(seq, digest)
    return chained, moved


ProblemKind = Literal["altered", "broken_link", "gap"]


@dataclass(frozen=True, slots=True)
class Problem:
    """The first bad record of a node's chain: what is wrong with it, in words."""

    node: str
    seq: int
    event_id: str
    kind: ProblemKind
    message: str


@dataclass(slots=True)
class _NodeState:
    head: Head = field(default_factory=Head)
    last_event: str | None = None
    records: int = 0
    broken: bool = False


@dataclass(frozen=True, slots=True)
class Verification:
    """What `Verifier` found: records and nodes checked, the newest record of each node (to
    anchor elsewhere: truncation is only visible against an earlier head), and the problems."""

    records: int
    nodes: int
    heads: dict[str, Head]
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


class Verifier:
    """Feed stored records in (node, seq) order; `result()` says whether each chain holds."""

    def __init__(self) -> None:
        self._nodes: dict[str, _NodeState] = {}
        self._problems: list[Problem] = []
        self._records = 0

    def feed(self, entry: Mapping[str, Any]) -> Problem | None:
        """Check one stored record (the fields of a `ChainedRecord`); its problem, if any.
        After a node's first problem the rest of that node is counted but not checked."""
        self._records += 1
        state = self._nodes.setdefault(entry["node"], _NodeState())
        state.records += 1
        if state.broken:
            return None
        problem = _check(state, entry)
        if problem is not None:
            state.broken = True
            self._problems.append(problem)
        state.head = Head(entry["seq"], entry["hash"])
        state.last_event = entry["event_id"]
        return problem

    def feed_all(self, entries: Sequence[Mapping[str, Any]]) -> None:
        for entry in entries:
            self.feed(entry)

    def result(self) -> Verification:
        heads = {node: state.head for node, state in self._nodes.items()}
        return Verification(self._records, len(self._nodes), heads, list(self._problems))


def _check(state: _NodeState, entry: Mapping[str, Any]) -> Problem | None:
    node, seq, event_id = entry["node"], entry["seq"], entry["event_id"]
    previous = state.head
    if seq <= previous.seq:  # the listing is not in (node, seq) order: a caller's bug
        message = f"out of order: seq {seq} after seq {previous.seq}"
        return Problem(node, seq, event_id, "gap", message)
    if seq != previous.seq + 1:
        return Problem(node, seq, event_id, "gap", _gap(state, seq, event_id))
    if entry["prev_hash"] != previous.hash:
        what = "the genesis hash" if previous.seq == 0 else f"the hash of seq {previous.seq}"
        message = f"broken link: prev_hash is not {what}"
        return Problem(node, seq, event_id, "broken_link", message)
    try:
        expected = record_hash(entry["prev_hash"], entry, seq)
    except (TypeError, ValueError, AttributeError) as exc:  # a field edited to another type
        expected = f"unhashable ({exc})"
    if entry["hash"] != expected:
        return Problem(node, seq, event_id, "altered", "hash mismatch (record altered)")
    return None


def _gap(state: _NodeState, seq: int, event_id: str) -> str:
    previous = state.head.seq
    first, last = previous + 1, seq - 1
    missing = f"seq {first}" if first == last else f"seq {first}..{last}"
    after = f"seq {seq} (event {event_id})"
    if previous == 0:
        return f"gap: {missing} missing before {after}"
    return f"gap: {missing} missing between seq {previous} (event {state.last_event}) and {after}"
