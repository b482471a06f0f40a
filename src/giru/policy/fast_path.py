"""Deciding without asking OPA what cannot change: the decision of a call with empty arguments,
kept per caller, tool and binding, and the plan that says when the real arguments leave it as is.

Each pack topic declares (`arguments_guard`) how the arguments and the clock can change what it
contributes; `data.giru.decision.fast` answers the decision of the call asked with empty
arguments together with the combined plan (docs/policies/fast-path.md). While a call's arguments
satisfy the plan, that decision is the call's decision; otherwise, and whenever a rule reads the
clock or a topic declares nothing, OPA decides the call in full. OPA stays the reference: the
plan is only ever a sufficient condition, checked here with plain comparisons.

A call the plan does not hold for may still be decided by little of its arguments: packs that
read them only through Giru's findings (`findings_free`) and the values of a few names
(`reads`) decide alike any two calls with the same key, findings (kinds and paths) and values.
OPA's full decision of the first such call is kept and serves the later ones (another card
number in the same argument, the same record count).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeGuard

import orjson

from giru.policy.inputs import Call

__all__ = ["DecisionCache", "FastPlan", "Querier", "decision_key", "fast_plan", "fast_result"]

_FAST: Final = "giru/decision/fast"
_DECISION: Final = "giru/decision/result"
_PAN_FLOOR: Final = 1_000_000_000_000
"""Numbers from here up are read as digits by card number detection (13 digits and more)."""
_DIGITS: Final = frozenset("0123456789@")
_HOLDS: Final = object()
"""`FastPlan.match`: the plan holds for the call."""
_KEPT_VALUES_BYTES: Final = 1024
"""Calls whose `reads` values take more JSON than this are decided in full, not kept."""


class Querier(Protocol):
    """What answers decision queries: OPA over HTTP (giru.policy.opa.OpaClient) or the bundle
    compiled to WebAssembly in process (giru.policy.wasm.WasmEvaluator)."""

    async def query(self, path: str, payload: Any, *, timeout_s: float | None = None) -> Any: ...


@dataclass(frozen=True, slots=True)
class FastPlan:
    """When the arguments leave the decision asked with empty arguments unchanged, and what of
    them decides the call when they do not."""

    bytes_at_most: float | None
    pii_free: bool
    findings_free: bool
    absent: frozenset[str]
    reads: frozenset[str] = frozenset()

    def holds(self, mcp: Mapping[str, Any]) -> bool:
        """Whether the input's `mcp` (arguments, their size and Giru's findings) satisfies it."""
        return self.match(mcp) is _HOLDS

    def deciding(self, mcp: Mapping[str, Any]) -> Hashable | None:
        """What of the arguments decides the call, when the packs read them only through Giru's
        findings (`findings_free`) and the values of `reads`: those findings' kinds and paths
        and those values (as sorted-key JSON). None when anything else of the arguments may
        change the decision: the size limit or an `absent` name fails, a `pii_free` topic sees
        possible personal data, Giru left the findings to the policy, or the values are too
        large to keep."""
        found = self.match(mcp)
        return (frozenset(), (None,) * len(self.reads)) if found is _HOLDS else found

    def match(self, mcp: Mapping[str, Any]) -> Hashable | None:
        """One pass over the call: `_HOLDS` when the plan holds (the decision asked with empty
        arguments is the call's), else what `deciding` says decides it, else None."""
        arguments: Mapping[str, Any] = mcp["arguments"]
        if self.bytes_at_most is not None and mcp["arguments_bytes"] > self.bytes_at_most:
            return None
        if self.absent and not self.absent.isdisjoint(arguments):
            return None
        if self.pii_free and _may_hold_personal_data(arguments):
            return None
        found: frozenset[tuple[Any, Any]] = frozenset()
        if self.findings_free:
            findings = mcp.get("argument_findings")
            if findings != []:  # found some, or left the finding to the policy (large arguments)
                if not isinstance(findings, list) or not all(isinstance(f, dict) for f in findings):
                    return None
                found = frozenset((f.get("kind"), f.get("path")) for f in findings)
        if not found and (not self.reads or self.reads.isdisjoint(arguments)):
            return _HOLDS
        values: list[bytes | None] = []
        size = 0
        for name in sorted(self.reads):
            if name not in arguments:
                values.append(None)
                continue
            try:
                text = orjson.dumps(arguments[name], option=orjson.OPT_SORT_KEYS)
            except TypeError:  # orjson's JSONEncodeError: not JSON (never from a request)
                return None
            size += len(text)
            if size > _KEPT_VALUES_BYTES:
                return None
            values.append(text)
        return found, tuple(values)


def fast_plan(answer: Any) -> FastPlan | None:
    """The plan in OPA's `fast.plan`; None when there is none or the clock is read."""
    if not isinstance(answer, dict) or answer.get("clock") is not False:
        return None
    limit, pii_free, findings_free, absent, reads = (
        answer.get("bytes_at_most"),
        answer.get("pii_free"),
        answer.get("findings_free"),
        answer.get("absent"),
        answer.get("reads"),
    )
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float)):
        return None
    if not isinstance(pii_free, bool) or not isinstance(findings_free, bool):
        return None
    if not (_names(absent) and _names(reads)):
        return None
    return FastPlan(limit, pii_free, findings_free, frozenset(absent), frozenset(reads))


def _names(value: Any) -> TypeGuard[list[str]]:
    """Whether `value` is a list of argument names."""
    return isinstance(value, list) and all(isinstance(name, str) for name in value)


def _may_hold_personal_data(arguments: Mapping[str, Any]) -> bool:
    """Whether any argument value could be read as personal data: a string with an ASCII digit
    or "@", or a number of 13 digits or more."""
    pending: list[Any] = [arguments]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if not _DIGITS.isdisjoint(value):
                return True
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list | tuple):
            pending.extend(value)
        elif isinstance(value, int | float) and not isinstance(value, bool) and value >= _PAN_FLOOR:
            return True
    return False


@dataclass(frozen=True, slots=True)
class _Entry:
    plan: FastPlan | None
    result: Any


class DecisionCache:
    """Decisions asked with empty arguments and their plans, by `decision_key` of the call, and
    full decisions of calls the plan did not hold for, by that key and what of the arguments
    decided them (`FastPlan.deciding`). The key leaves out the configuration's facts: the
    engine clears the cache when they change."""

    def __init__(self, capacity: int = 16_384) -> None:
        self.capacity = capacity
        self.hits = 0
        """Calls decided from the cache (`kept_hits` of them from a kept full decision)."""
        self.kept_hits = 0
        """Calls decided from the full decision of an earlier call whose arguments the packs
        read alike (the same findings and `reads` values)."""
        self.asked = 0
        """Questions to OPA for a decision with empty arguments and its plan."""
        self.full = 0
        """Calls OPA decided in full."""
        self._entries: dict[Hashable, _Entry] = {}
        self._kept: dict[Hashable, Any] = {}

    def clear(self) -> None:
        self._entries.clear()
        self._kept.clear()

    def get(self, key: Hashable) -> _Entry | None:
        return self._entries.get(key)

    def put(self, key: Hashable, plan: FastPlan | None, result: Any) -> _Entry:
        if len(self._entries) >= self.capacity:
            self._entries.pop(next(iter(self._entries)))
        entry = _Entry(plan, result)
        self._entries[key] = entry
        return entry

    def kept(self, key: Hashable) -> Any:
        """The full decision kept for a call's key and what decided it; None: none is."""
        return self._kept.get(key)

    def keep(self, key: Hashable, result: Any) -> None:
        if len(self._kept) >= self.capacity:
            self._kept.pop(next(iter(self._kept)))
        self._kept[key] = result


def decision_key(call: Call) -> Hashable:
    """What the input document of `call` is made of, but its arguments, request id and time and
    the configuration's facts: equal keys (under the same facts) mean equal documents once those
    are left out, so they share the decision asked with empty arguments."""
    return (
        call.method,
        call.server,
        call.target,
        call.virtual_server,
        call.client,
        call.subscription,
        call.person,
        call.agent,
        call.source_ip,
        call.tls,
        call.protocol_version,
    )


async def fast_result(
    client: Querier,
    cache: DecisionCache,
    document: Mapping[str, Any],
    topics: Any,
    key: Hashable,
) -> Any:
    """OPA's decision result for the input `document` (of a call whose `decision_key` is `key`),
    from the cache when the plan allows."""
    mcp = document["mcp"]
    entry = cache.get(key)
    if entry is None:
        empty = {**mcp, "arguments": {}, "arguments_bytes": 0, "argument_findings": []}
        answer = await client.query(_FAST, {**document, "mcp": empty, "topics": topics})
        cache.asked += 1
        answered = answer if isinstance(answer, dict) else {}
        entry = cache.put(key, fast_plan(answered.get("plan")), answered.get("result"))
    plan = entry.plan
    found = plan.match(mcp) if plan is not None else None
    if found is _HOLDS:
        cache.hits += 1
        return entry.result
    if found is not None:
        result = cache.kept((key, found))
        if result is not None:
            cache.hits += 1
            cache.kept_hits += 1
            return result
    cache.full += 1
    result = await client.query(_DECISION, document)
    if found is not None and isinstance(result, dict):
        cache.keep((key, found), result)
    return result
