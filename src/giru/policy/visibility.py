"""tools/list visibility: which listed tools policy lets a caller call, decided by class.

Deciding every tool of a large catalog on its own costs OPA a full decision per tool (about
0.2 ms each for the shipped packs). Most tools differ only in names that no rule looks at, so
the packs declare what they compare a tool's name with (`tool_names` in each topic, gathered
by `data.giru.decision.tool_names_by_binding`); tools that agree on everything a decision reads
(binding, tags, sensitivity, the declared name facts, and the server unless every topic says it
reads the server only as `<server>/<name>`) form one class (`ToolClasses`), and OPA's `visible`
query is asked once per class, in one query for the whole list. A binding whose topics do not
all declare keeps every tool in a class of its own.

`VisibilityCache` keeps, per bundle, the name plans (one query for every binding); per catalog
(its route tuple, virtual server and subscriptions), the classes, which do not depend on the
caller; per caller and catalog, the visible names; and per caller, OPA's decision for each class
signature, so a new catalog whose tools fall in classes already decided needs no query.
Concurrent tools/list calls of the same caller share one computation (single flight). A new
configuration forgets the answers and the classes (`clear`) but keeps the class decisions: a
decision is kept under all it reads besides the bundle, so the first list after a new
configuration asks OPA only about classes whose inputs changed. A new bundle forgets the
decisions and the name plans too (`clear(policy=True)`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, Final, Literal

from giru.policy.opa import OpaClient

__all__ = [
    "NameFacts",
    "NamePlan",
    "Same",
    "ToolClasses",
    "VisibilityCache",
    "VisibilityOutcome",
    "name_plan",
    "tool_classes",
    "visible_by_class",
]

_DEFAULT_CAPACITY: Final = 4096
_CLASSES_CAPACITY: Final = 256
_DECIDED_CAPACITY: Final = 65536
_NAMES_CAPACITY: Final = 65536
_NAME_TABLES: Final = 256
_VISIBLE: Final = "giru/decision/visible"

Route = tuple[str, str, str]
"""(listed name, server, tool) of one listed tool."""
VisibilityOutcome = Literal["cached", "shared", "computed", "unavailable"]
"""How a tools/list got its visible set: kept, joined a computation under way, asked OPA, or
none (OPA failed or timed out: the list is refused and no tool is shown, fail-closed)."""


@dataclass(frozen=True, slots=True)
class NamePlan:
    """What the packs of one binding compare tool names with."""

    exact: frozenset[str]
    """Names compared as a whole: a tool's name, or `<server>/<name>`."""
    substrings: tuple[str, ...]
    """Lowercase substrings looked for in the lowercased name."""
    server: bool = True
    """Whether a rule may read the server other than as `<server>/<name>` (False: tools of
    different servers can share a class)."""


@dataclass(frozen=True, slots=True)
class ToolClasses:
    """A catalog's tools in classes whose members get the same decision."""

    representatives: tuple[tuple[str, str, str], ...]
    """(binding, server, tool) of one member per class: what `visible` is asked about."""
    members: tuple[tuple[str, ...], ...]
    """The listed names of each class."""
    signatures: tuple[Hashable, ...]
    """What each class's decision depends on besides the caller (binding, server, tool facts,
    name facts): the same in every catalog, so a caller's decision for it outlives a catalog."""

    def visible(self, allowed: Iterable[object]) -> frozenset[str]:
        """The listed names of the classes whose index (as a string) is in `allowed`."""
        count = len(self.members)
        indexes = {int(key) for key in allowed if isinstance(key, str) and key.isdigit()}
        return frozenset(chain.from_iterable(self.members[i] for i in indexes if i < count))


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
        frozenset(n for n in exact if isinstance(n, str)),
        tuple(sorted(set(substrings))),
        declared.get("server") is not False,
    )


class NameFacts:
    """What a binding's name plan tells from each tool name (and whether the tool keeps its
    server in its class), kept per plan and server across lists: a plan is a value, so what
    it told holds as long as the plans do, also across a new configuration or bundle whose
    plans are the same. Bounded: a table past `capacity` names starts over."""

    __slots__ = ("_capacity", "_tables")

    def __init__(self, capacity: int = _NAMES_CAPACITY) -> None:
        self._capacity = capacity
        self._tables: dict[tuple[NamePlan | None, str], dict[str, tuple[bool, Hashable]]] = {}

    def table(self, plan: NamePlan | None, server: str) -> dict[str, tuple[bool, Hashable]]:
        """The kept name facts of `plan` for the tools of `server` (filled by `tool_classes`)."""
        key = (plan, server)
        found = self._tables.get(key)
        if found is None or len(found) > self._capacity:
            if found is None and len(self._tables) >= _NAME_TABLES:
                self._tables.pop(next(iter(self._tables)))
            found = self._tables[key] = {}
        return found


def _named(plan: NamePlan | None, server: str, tool: str) -> tuple[bool, Hashable]:
    """(whether the tool keeps its server in its class, what `plan` can tell from its name)."""
    if plan is None or not tool.isascii():  # Go's and Python's lower() differ beyond ASCII
        return True, tool
    exact = plan.exact
    named: Hashable
    if not exact:
        named = False
    elif plan.server:
        named = (tool in exact or f"{server}/{tool}" in exact) and tool
    else:
        qualified = f"{server}/{tool}"
        named = (tool in exact and tool, qualified in exact and qualified)
    if plan.substrings:
        lowered = tool.lower()
        named = (named, tuple([part in lowered for part in plan.substrings]))
    return plan.server, named


def tool_classes(
    routes: Iterable[Route],
    bindings: Iterable[str | None],
    facts: Mapping[tuple[str, str], Hashable],
    plans: Mapping[str, NamePlan | None],
    server_facts: Mapping[str, Hashable] | None = None,
    names: NameFacts | None = None,
) -> ToolClasses:
    """`routes` grouped so that members of a class get the same decision: same binding (the
    route's item of `bindings`; None leaves the tool out), server (unless the binding's packs
    read it only as `<server>/<name>`), tool facts (tags, sensitivity: `facts` by (server,
    tool), else the server's `server_facts`; without either, a tool keeps its server) and what
    the binding's packs can tell from the name (kept in `names` across calls).

    A signature holds everything its class's decision reads besides the caller and the bundle
    (the tool facts included, also where the server is kept), so a decision kept by signature
    stays right across a new configuration. One pass over the catalog: per tool, its name
    facts and configured facts select a group of its binding and server, resolved into a
    class once per group."""
    by_server = server_facts if server_facts is not None else {}
    kept = names if names is not None else NameFacts()
    configured: dict[str, dict[str, Hashable]] = {}
    for (server, tool), fact in facts.items():
        configured.setdefault(server, {})[tool] = fact
    classes: dict[Hashable, tuple[tuple[str, str, str], list[str]]] = {}
    runs: dict[tuple[str, str], tuple[Any, ...]] = {}
    last_binding: str | None = None
    last_server: str | None = None
    plan: NamePlan | None = None
    told: dict[str, tuple[bool, Hashable]] = {}
    tool_facts: dict[str, Hashable] = {}
    local: dict[Hashable, list[str]] = {}
    for (name, server, tool), binding in zip(routes, bindings, strict=True):
        if binding is None:
            continue
        if binding != last_binding or server != last_server:
            last_binding, last_server = binding, server
            run = runs.get((binding, server))
            if run is None:
                plan = plans.get(binding)
                run = (plan, kept.table(plan, server), configured.get(server, {}), {})
                runs[binding, server] = run
            plan, told, tool_facts, local = run
        named = told.get(tool)
        if named is None:
            named = told[tool] = _named(plan, server, tool)
        fact = tool_facts.get(tool)
        group = (fact, named)
        members = local.get(group)
        if members is None:
            if fact is None:
                fact = by_server.get(server)
            place = server if named[0] or fact is None else None
            key = (binding, place, fact, named[1])
            found = classes.get(key)
            if found is None:
                found = classes[key] = ((binding, server, tool), [])
            members = local[group] = found[1]
        members.append(name)
    return ToolClasses(
        tuple(first for first, _ in classes.values()),
        tuple(tuple(members) for _, members in classes.values()),
        tuple(classes),
    )


async def visible_by_class(
    client: OpaClient,
    classes: ToolClasses,
    document: Mapping[str, Any],
    entry: Callable[[str, str, str], dict[str, Any]],
    timeout_s: float,
    known: Sequence[bool | None] = (),
) -> tuple[frozenset[str], dict[int, bool]]:
    """The listed names that OPA's `visible` lets the caller of `document` see, and what OPA
    decided for each class it was asked about (by index): one query asking about one
    representative of each class whose decision `known` (by index) does not hold yet, none
    when it holds them all (`entry(binding, server, tool)` makes a class's item of the input)."""
    ask = [i for i in range(len(classes.representatives)) if i >= len(known) or known[i] is None]
    fresh: dict[int, bool] = {}
    if ask:
        items = []
        for index in ask:
            binding, server, tool = classes.representatives[index]
            items.append({**entry(binding, server, tool), "key": str(index)})
        result = await client.query(_VISIBLE, {**document, "tools": items}, timeout_s=timeout_s)
        allowed = {str(key) for key in result} if isinstance(result, list) else set()
        fresh = {index: str(index) in allowed for index in ask}
    granted = [str(i) for i, ok in enumerate(known) if ok] + [
        str(i) for i, ok in fresh.items() if ok
    ]
    return classes.visible(granted), fresh


class VisibilityCache:
    """Visible tool names per key (caller, catalog), kept for `ttl_s` (rules that read the
    clock) or until `clear()`; concurrent misses of one key share one computation. Also the
    name plans of the current bundle and the classes of each catalog (`classes_for`)."""

    def __init__(
        self,
        ttl_s: float,
        capacity: int = _DEFAULT_CAPACITY,
        count: Callable[[VisibilityOutcome], None] | None = None,
    ) -> None:
        self.ttl_s = ttl_s
        self.capacity = capacity
        self.plans: dict[str, NamePlan | None] = {}
        """Name plans by binding key, for the current bundle."""
        self.names = NameFacts()
        """What each plan told from each tool name (values: nothing to forget on a change)."""
        self.computations = 0
        self.classes_asked = 0
        """Class decisions OPA was asked for (the others came from kept decisions)."""
        self._count = count
        self._entries: dict[Hashable, tuple[float, frozenset[str]]] = {}
        self._inflight: dict[Hashable, asyncio.Future[frozenset[str]]] = {}
        self._classes: dict[Hashable, ToolClasses] = {}
        self._decided: dict[Hashable, tuple[float, bool]] = {}
        self._generation = 0
        self._policy_generation = 0
        self._plans_lock = asyncio.Lock()

    def clear(self, *, policy: bool = False) -> None:
        """Forget the answers and the classes (a new configuration); answers being computed are
        not kept either. With `policy` (a new bundle, or OPA's active revision changed), the
        name plans and the class decisions too.

        A new configuration keeps the class decisions: each is kept under everything it reads
        besides the bundle (the caller's document, the virtual server, the class signature with
        binding key and tool facts), so one whose inputs changed is not found and OPA is asked
        again, while the rest need no query."""
        self._generation += 1
        self._entries.clear()
        self._inflight.clear()
        self._classes.clear()
        if policy:
            self._policy_generation += 1
            self.plans.clear()
            self._decided.clear()

    async def plans_for(
        self,
        bindings: Collection[str],
        fetch: Callable[[list[str]], Awaitable[Mapping[str, NamePlan | None]]],
    ) -> Mapping[str, NamePlan | None]:
        """The name plans of `bindings`, asking `fetch` for the missing ones (one at a time:
        concurrent first lists wait for the same answer)."""
        plans = self.plans
        if all(binding in plans for binding in bindings):
            return plans
        async with self._plans_lock:
            missing = sorted(set(bindings) - self.plans.keys())
            if not missing:
                return self.plans
            generation = self._policy_generation
            found = await fetch(missing)
            if generation != self._policy_generation:  # a new bundle meanwhile: not kept
                return {**self.plans, **found}
            self.plans.update(found)
            return self.plans

    @property
    def generation(self) -> int:
        """Changes with every `clear()`: what was read before is stale after."""
        return self._generation

    def classes_for(
        self, key: Hashable, make: Callable[[], ToolClasses], generation: int
    ) -> ToolClasses:
        """The classes of one catalog (they do not depend on the caller), made once; kept only
        while nothing changed since `generation`."""
        found = self._classes.get(key) if generation == self._generation else None
        if found is None:
            found = make()
            if generation != self._generation:
                return found
            if len(self._classes) >= _CLASSES_CAPACITY:
                self._classes.pop(next(iter(self._classes)))
            self._classes[key] = found
        return found

    def decided(self, keys: Sequence[Hashable]) -> list[bool | None]:
        """A caller's decision for each class signature (`keys`: caller and signature), None
        where there is none kept (or it is older than `ttl_s`)."""
        now, found = time.monotonic(), []
        for key in keys:
            kept = self._decided.get(key)
            found.append(kept[1] if kept is not None and kept[0] > now else None)
        return found

    def remember(self, decided: Mapping[Hashable, bool], generation: int) -> None:
        """Keep decisions by class signature, unless something changed since `generation`."""
        self.classes_asked += len(decided)
        if generation != self._generation:
            return
        expires = time.monotonic() + self.ttl_s
        for key, allowed in decided.items():
            if len(self._decided) >= _DECIDED_CAPACITY:
                self._decided.pop(next(iter(self._decided)))
            self._decided[key] = (expires, allowed)

    async def get(
        self, key: Hashable, compute: Callable[[], Awaitable[frozenset[str]]]
    ) -> frozenset[str]:
        found = self._entries.get(key)
        if found is not None and found[0] > time.monotonic():
            self._counted("cached")
            return found[1]
        try:
            while (shared := self._inflight.get(key)) is not None:
                try:
                    visible = await asyncio.shield(shared)
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if not shared.cancelled() or (task is not None and task.cancelling()):
                        raise
                    # the caller computing it went away: compute it here instead
                else:
                    self._counted("shared")
                    return visible
            visible = await self._compute(key, compute)
        except Exception:
            self._counted("unavailable")
            raise
        self._counted("computed")
        return visible

    def _counted(self, outcome: VisibilityOutcome) -> None:
        if self._count is not None:
            self._count(outcome)

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
