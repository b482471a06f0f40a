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

__all__ = ["NamePlan", "VisibilityCache", "name_plan", "tool_classes"]

_DEFAULT_CAPACITY: Final = 4096


@dataclass(frozen=True, slots=True)
class NamePlan:
    """What the packs of one binding compare tool names with."""

    exact: frozenset[str]
    """Names compared as a whole: a tool's name, or `<server>/<name>`."""
    substrings: tuple[str, ...]
    """Lowercase substrings looked for in the lowercased name."""


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


def tool_classes(
    tools: Sequence[Mapping[str, Any]], plans: Mapping[str, NamePlan | None]
) -> list[list[int]]:
    """The indexes of `tools` (entries of the `visible` input: server, virtual_server, tool,
    binding) grouped so that members of a group get the same decision."""
    groups: dict[Hashable, list[int]] = {}
    for index, entry in enumerate(tools):
        groups.setdefault(_class_of(entry, plans.get(entry["binding"])), []).append(index)
    return list(groups.values())


def _class_of(entry: Mapping[str, Any], plan: NamePlan | None) -> Hashable:
    tool = entry["tool"]
    name, server = str(tool["name"]), str(entry["server"])
    name_facts: Hashable
    if plan is None or not name.isascii():  # Go's and Python's lower() differ beyond ASCII
        name_facts = ("name", name)
    else:
        named = name in plan.exact or f"{server}/{name}" in plan.exact
        lowered = name.lower()
        name_facts = (
            name if named else None,
            tuple(part in lowered for part in plan.substrings),
        )
    return (
        entry["binding"],
        server,
        entry.get("virtual_server"),
        tuple(str(tag) for tag in tool.get("tags") or ()),
        tool.get("sensitivity"),
        name_facts,
    )


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
