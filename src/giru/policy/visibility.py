"""tools/list visibility: which listed tools policy lets a caller call, decided by class.

Deciding every tool of a large catalog on its own costs OPA a full decision per tool (about
0.2 ms each for the shipped packs). Most tools differ only in names that no rule looks at, so
the packs declare what they compare a tool's name with (`tool_names` in each topic, gathered
by `data.giru.decision.tool_names_by_binding`); tools that agree on everything a decision reads
(binding, server, tags, sensitivity and the declared name facts) form one class, and OPA's
`visible` query is asked once per class, in one query for the whole list. A binding whose
topics do not all declare keeps every tool in a class of its own.

The answer is cached per caller and catalog (`VisibilityCache`): concurrent tools/list calls of
the same caller share one computation (single flight), and any change of policy, configuration
or catalog starts over.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from giru.errors import PolicyUnavailableError
from giru.policy.opa import OpaClient

__all__ = [
    "Listed",
    "NamePlan",
    "Same",
    "VisibilityCache",
    "name_plan",
    "tool_classes",
    "visible_by_class",
]

_DEFAULT_CAPACITY: Final = 4096
_VISIBLE: Final = "giru/decision/visible"
_TOOL_NAMES: Final = "giru/decision/tool_names_by_binding"


@dataclass(frozen=True, slots=True)
class NamePlan:
    """What the packs of one binding compare tool names with."""

    exact: frozenset[str]
    """Names compared as a whole: a tool's name, or `<server>/<name>`."""
    substrings: tuple[str, ...]
    """Lowercase substrings looked for in the lowercased name."""


@dataclass(frozen=True, slots=True)
class Listed:
    """One tool of a tools/list, as far as its visibility goes."""

    key: str
    """Its listed name."""
    server: str
    tool: str
    binding: str
    facts: Hashable
    """What else a decision reads of the tool (tags, sensitivity), comparable."""


class Same:
    """A key part compared by identity: a view's route tuple (hashing 1,000 routes on every
    tools/list would cost more than the cached answer saves)."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Same) and other.value is self.value


def name_plan(declared: Any) -> NamePlan | None:
    """The plan from OPA's `tool_names` for one binding (None when it is not one)."""
    if not isinstance(declared, dict):
        return None
    exact, substrings = declared.get("exact"), declared.get("substrings")
    if not isinstance(exact, list) or not isinstance(substrings, list):
        return None
    if not all(isinstance(s, str) for s in substrings):
        return None
    return NamePlan(
        frozenset(n for n in exact if isinstance(n, str)), tuple(sorted(set(substrings)))
    )


def tool_classes(tools: Sequence[Listed], plans: Mapping[str, NamePlan | None]) -> list[list[int]]:
    """The indexes of `tools` grouped so that members of a group get the same decision."""
    groups: dict[Hashable, list[int]] = {}
    for index, listed in enumerate(tools):
        key = (listed.binding, listed.server, listed.facts, _name_facts(listed, plans))
        found = groups.get(key)
        if found is None:
            groups[key] = [index]
        else:
            found.append(index)
    return list(groups.values())


async def visible_by_class(
    client: OpaClient,
    plans: dict[str, NamePlan | None],
    topics: Sequence[tuple[str, str]] | None,
    document: Mapping[str, Any],
    tools: Sequence[Listed],
    entry: Callable[[Listed], dict[str, Any]],
    timeout_s: float,
) -> frozenset[str]:
    """The keys of `tools` that OPA's `visible` lets the caller of `document` see, asking for
    one representative of each class (`entry` makes its item of the `visible` input); `plans`
    (by binding) is filled as needed."""
    if not tools:
        return frozenset()
    missing = sorted({listed.binding for listed in tools} - plans.keys())
    if missing:
        plans.update(await _name_plans(client, missing, topics, timeout_s))
    groups = tool_classes(tools, plans)
    asked = [
        {**entry(tools[members[0]]), "key": str(index)} for index, members in enumerate(groups)
    ]
    result = await client.query(_VISIBLE, {**document, "tools": asked}, timeout_s=timeout_s)
    allowed = {str(key) for key in result} if isinstance(result, list) else set()
    return frozenset(
        tools[member].key
        for index, members in enumerate(groups)
        if str(index) in allowed
        for member in members
    )


async def _name_plans(
    client: OpaClient,
    bindings: list[str],
    topics: Sequence[tuple[str, str]] | None,
    timeout_s: float,
) -> dict[str, NamePlan | None]:
    """What the packs of each binding compare tool names with (None: not declared)."""
    if topics is None:
        return dict.fromkeys(bindings)
    status, body = await client.request(
        "POST",
        f"/v1/data/{_TOOL_NAMES}",
        orjson.dumps({"input": {"bindings": bindings, "topics": topics}}),
        timeout_s=timeout_s,
    )
    try:
        answer = orjson.loads(body) if status == 200 else None
    except orjson.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        raise PolicyUnavailableError(f"OPA gave no tool name plans (HTTP {status})")
    found = answer.get("result")
    declared = found if isinstance(found, dict) else {}  # undefined: a decision of its own
    return {binding: name_plan(declared.get(binding)) for binding in bindings}


def _name_facts(listed: Listed, plans: Mapping[str, NamePlan | None]) -> Hashable:
    """What the packs of the tool's binding can tell from its name."""
    name, plan = listed.tool, plans.get(listed.binding)
    if plan is None or not name.isascii():  # Go's and Python's lower() differ beyond ASCII
        return name
    exact = plan.exact
    named = bool(exact) and (name in exact or f"{listed.server}/{name}" in exact)
    if not plan.substrings:
        return named and name
    lowered = name.lower()
    return (named and name, tuple([part in lowered for part in plan.substrings]))


class VisibilityCache:
    """Visible tool names per key (caller, catalog), kept for `ttl_s` (rules that read the
    clock) or until `clear()`; concurrent misses of one key share one computation."""

    def __init__(self, ttl_s: float, capacity: int = _DEFAULT_CAPACITY) -> None:
        self.ttl_s = ttl_s
        self.capacity = capacity
        self.plans: dict[str, NamePlan | None] = {}
        """Name plans by binding key, for the current bundle."""
        self.computations = 0
        self._entries: dict[Hashable, tuple[float, frozenset[str]]] = {}
        self._inflight: dict[Hashable, asyncio.Future[frozenset[str]]] = {}
        self._generation = 0

    def clear(self) -> None:
        """Forget everything: answers being computed are not kept either."""
        self._generation += 1
        self._entries.clear()
        self._inflight.clear()
        self.plans.clear()

    async def get(
        self, key: Hashable, compute: Callable[[], Awaitable[frozenset[str]]]
    ) -> frozenset[str]:
        found = self._entries.get(key)
        if found is not None and found[0] > time.monotonic():
            return found[1]
        while (shared := self._inflight.get(key)) is not None:
            try:
                return await asyncio.shield(shared)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not shared.cancelled() or (task is not None and task.cancelling()):
                    raise
                # the caller computing it went away: compute it here instead
        return await self._compute(key, compute)

    async def _compute(
        self, key: Hashable, compute: Callable[[], Awaitable[frozenset[str]]]
    ) -> frozenset[str]:
        generation = self._generation
        future: asyncio.Future[frozenset[str]] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        self.computations += 1
        try:
            visible = await compute()
        except Exception as exc:
            self._settle(key, future)
            future.set_exception(exc)
            future.exception()  # retrieved: waiters, if any, raise it themselves
            raise
        except BaseException:
            self._settle(key, future)
            future.cancel()
            raise
        self._settle(key, future)
        future.set_result(visible)
        if generation == self._generation:
            if len(self._entries) >= self.capacity:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (time.monotonic() + self.ttl_s, visible)
        return visible

    def _settle(self, key: Hashable, future: asyncio.Future[frozenset[str]]) -> None:
        if self._inflight.get(key) is future:
            del self._inflight[key]
