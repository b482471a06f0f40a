"""tools/list visibility by class, and its cache: one computation per caller and catalog,
shared by concurrent calls, forgotten on any change."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from giru.errors import PolicyUnavailableError
from giru.policy.visibility import (
    NameFacts,
    NamePlan,
    Same,
    ToolClasses,
    VisibilityCache,
    name_plan,
    tool_classes,
)

PLAN = NamePlan(frozenset({"drop", "files/rm"}), ("medical", "patient"))


@dataclass(frozen=True)
class Tool:
    name: str
    server: str = "files"
    tags: tuple[str, ...] = ()
    sensitivity: str = "low"
    binding: str | None = "b"


def grouped(tools: list[Tool], plans: dict[str, NamePlan | None]) -> list[list[str]]:
    """The listed names of each class of `tools`."""
    routes = [(f"{t.server}__{t.name}", t.server, t.name) for t in tools]
    facts = {(t.server, t.name): (t.tags, t.sensitivity) for t in tools}
    classes = tool_classes(routes, [t.binding for t in tools], facts, plans)
    return [list(members) for members in classes.members]


def test_tools_differing_only_in_undeclared_names_share_a_class() -> None:
    tools = [Tool("read"), Tool("write"), Tool("list")]
    assert grouped(tools, {"b": PLAN}) == [["files__read", "files__write", "files__list"]]


@pytest.mark.parametrize(
    ("other", "why"),
    [
        (Tool("drop"), "a name a pack compares"),
        (Tool("rm"), "a <server>/<name> a pack compares"),
        (Tool("Patient_chart"), "a declared substring, case-insensitively"),
        (Tool("read2", server="crm"), "another server"),
        (Tool("read3", tags=("phi",)), "other tags"),
        (Tool("read4", sensitivity="high"), "another sensitivity"),
        (Tool("read5", binding="c"), "another binding"),
        (Tool("réad"), "a name beyond ASCII (lowercasing differs between Go and Python)"),
    ],
)
def test_a_tool_that_differs_in_what_a_decision_reads_gets_its_own_class(
    other: Tool, why: str
) -> None:
    assert len(grouped([Tool("read"), other], {"b": PLAN, "c": PLAN})) == 2, why


ANY_SERVER = NamePlan(frozenset({"drop", "files/rm"}), ("medical", "patient"), server=False)


def test_tools_of_other_servers_share_a_class_when_the_packs_read_the_server_only_in_names() -> (
    None
):
    tools = [Tool("read"), Tool("list", server="crm"), Tool("drop", server="crm"), Tool("drop")]
    assert grouped(tools, {"b": ANY_SERVER}) == [
        ["files__read", "crm__list"],
        ["crm__drop", "files__drop"],
    ]


@pytest.mark.parametrize(
    ("other", "why"),
    [
        (Tool("rm"), "its <server>/<name> is a name a pack compares"),
        (Tool("list", tags=("phi",)), "other tags"),
        (Tool("list", binding="c"), "another binding"),
        (Tool("patient_list"), "a declared substring"),
    ],
)
def test_a_tool_of_another_server_still_differs_in_what_a_decision_reads(
    other: Tool, why: str
) -> None:
    plans: dict[str, NamePlan | None] = {"b": ANY_SERVER, "c": ANY_SERVER}
    assert len(grouped([Tool("rm", server="crm"), other], plans)) == 2, why
    assert len(grouped([Tool("rm", server="crm"), Tool("list")], plans)) == 1


def test_an_unconfigured_tool_shares_a_class_only_with_the_facts_of_its_server() -> None:
    routes = [("pay__a", "pay", "a"), ("files__b", "files", "b"), ("crm__c", "crm", "c")]
    configured = {("files", "b"): ((), "low")}
    plans: dict[str, NamePlan | None] = {"b": ANY_SERVER}
    by_server = {"pay": (("pci",), "low"), "crm": ((), "low")}
    classes = tool_classes(routes, ["b"] * 3, configured, plans, by_server)
    assert classes.members == (("pay__a",), ("files__b", "crm__c"))
    unknown = tool_classes(routes, ["b"] * 3, configured, plans)  # no server facts: per server
    assert len(unknown.members) == 3


def test_without_a_plan_every_tool_is_its_own_class() -> None:
    assert len(grouped([Tool("read"), Tool("write")], {"b": None})) == 2
    assert len(grouped([Tool("read"), Tool("write")], {})) == 2


def test_a_tool_without_a_binding_is_in_no_class() -> None:
    assert grouped([Tool("read"), Tool("gone", binding=None)], {"b": PLAN}) == [["files__read"]]


def test_the_visible_names_are_the_members_of_the_allowed_classes() -> None:
    classes = ToolClasses(
        (("b", "files", "read"), ("b", "files", "drop")), (("a", "b"), ("c",)), ("s0", "s1")
    )
    assert classes.visible(["0"]) == frozenset({"a", "b"})
    assert classes.visible(["1", "0"]) == frozenset({"a", "b", "c"})
    assert classes.visible([]) == frozenset()
    assert classes.visible(["7", 1, "x", None]) == frozenset()  # nothing OPA was not asked


def test_plans_come_from_the_declared_names_and_substrings() -> None:
    assert name_plan({"exact": ["drop", 3], "substrings": ["patient", "medical"]}) == NamePlan(
        frozenset({"drop"}), ("medical", "patient")
    )
    declared = {"exact": [], "substrings": [], "server": False}
    assert name_plan(declared) == NamePlan(frozenset(), (), server=False)
    for server in (True, None, 0, "no"):
        assert name_plan({**declared, "server": server}) == NamePlan(frozenset(), ())
    answers: tuple[object, ...] = (None, [], {"exact": []}, {"exact": [], "substrings": [1]})
    for answer in answers:
        assert name_plan(answer) is None


async def test_concurrent_misses_of_one_key_share_one_computation() -> None:
    cache = VisibilityCache(ttl_s=60)
    release = asyncio.Event()

    async def compute() -> frozenset[str]:
        await release.wait()
        return frozenset({"a"})

    async with asyncio.TaskGroup() as tasks:
        waiting = [tasks.create_task(cache.get("k", compute)) for _ in range(64)]
        await asyncio.sleep(0)
        release.set()
    assert {task.result() for task in waiting} == {frozenset({"a"})}
    assert cache.computations == 1
    assert await cache.get("k", compute) == frozenset({"a"})
    assert cache.computations == 1


async def test_clearing_forgets_answers_and_the_ones_being_computed() -> None:
    cache = VisibilityCache(ttl_s=60)
    started, release = asyncio.Event(), asyncio.Event()

    async def compute() -> frozenset[str]:
        started.set()
        await release.wait()
        return frozenset({"old"})

    async with asyncio.TaskGroup() as tasks:
        first = tasks.create_task(cache.get("k", compute))
        await started.wait()
        cache.clear()
        release.set()
    assert first.result() == frozenset({"old"})

    async def fresh() -> frozenset[str]:
        return frozenset({"new"})

    assert await cache.get("k", fresh) == frozenset({"new"})
    assert cache.computations == 2


async def test_a_failed_computation_fails_every_waiter_and_is_not_kept() -> None:
    cache = VisibilityCache(ttl_s=60)
    release = asyncio.Event()

    async def compute() -> frozenset[str]:
        await release.wait()
        raise PolicyUnavailableError("OPA did not answer")

    async def attempt() -> str:
        try:
            await cache.get("k", compute)
        except PolicyUnavailableError as exc:
            return exc.message
        return "answered"

    async with asyncio.TaskGroup() as tasks:
        attempts = [tasks.create_task(attempt()) for _ in range(2)]
        await asyncio.sleep(0)
        release.set()
    assert [task.result() for task in attempts] == ["OPA did not answer"] * 2
    assert cache.computations == 1

    async def recovered() -> frozenset[str]:
        return frozenset({"a"})

    assert await cache.get("k", recovered) == frozenset({"a"})


async def test_a_waiter_computes_itself_when_the_caller_computing_goes_away() -> None:
    cache = VisibilityCache(ttl_s=60)
    started = asyncio.Event()

    async def stuck() -> frozenset[str]:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def quick() -> frozenset[str]:
        return frozenset({"a"})

    async with asyncio.TaskGroup() as tasks:
        leader = tasks.create_task(cache.get("k", stuck))
        await started.wait()
        follower = tasks.create_task(cache.get("k", quick))
        await asyncio.sleep(0)
        leader.cancel()
    assert follower.result() == frozenset({"a"})
    assert leader.cancelled()


async def test_the_oldest_answer_makes_room_when_the_cache_is_full() -> None:
    cache = VisibilityCache(ttl_s=60, capacity=2)
    for key in ("a", "b", "c"):

        async def compute(key: str = key) -> frozenset[str]:
            return frozenset({key})

        await cache.get(key, compute)

    async def again() -> frozenset[str]:
        return frozenset({"again"})

    assert await cache.get("c", again) == frozenset({"c"})
    assert await cache.get("a", again) == frozenset({"again"})


def test_a_route_tuple_is_the_same_key_only_as_itself() -> None:
    routes = (("a", "s", "t"),)
    assert Same(routes) == Same(routes)
    assert hash(Same(routes)) == hash(Same(routes))
    assert Same(routes) != Same(tuple([("a", "s", "t")]))  # equal, but another catalog
    assert Same(routes) != routes


async def test_each_list_is_counted_by_how_it_got_its_answer() -> None:
    counted: list[str] = []
    cache = VisibilityCache(ttl_s=60, count=counted.append)
    release = asyncio.Event()

    async def compute() -> frozenset[str]:
        await release.wait()
        return frozenset({"a"})

    async with asyncio.TaskGroup() as tasks:
        for _ in range(3):
            tasks.create_task(cache.get("k", compute))
        await asyncio.sleep(0)
        release.set()
    await cache.get("k", compute)

    async def failing() -> frozenset[str]:
        raise PolicyUnavailableError("OPA timed out")

    with pytest.raises(PolicyUnavailableError):
        await cache.get("other", failing)
    assert sorted(counted) == ["cached", "computed", "shared", "shared", "unavailable"]


async def test_concurrent_first_lists_ask_for_the_name_plans_once() -> None:
    cache = VisibilityCache(ttl_s=60)
    asked: list[list[str]] = []
    release = asyncio.Event()

    async def fetch(missing: list[str]) -> dict[str, NamePlan | None]:
        asked.append(missing)
        await release.wait()
        return dict.fromkeys(missing, PLAN)

    async with asyncio.TaskGroup() as tasks:
        waiting = [tasks.create_task(cache.plans_for({"b", "c"}, fetch)) for _ in range(16)]
        await asyncio.sleep(0)
        release.set()
    assert asked == [["b", "c"]]
    assert all(dict(task.result()) == {"b": PLAN, "c": PLAN} for task in waiting)
    await cache.plans_for({"c"}, fetch)
    assert len(asked) == 1


async def test_name_plans_outlive_a_new_configuration_but_not_a_new_bundle() -> None:
    cache = VisibilityCache(ttl_s=60)
    asked: list[list[str]] = []

    async def fetch(missing: list[str]) -> dict[str, NamePlan | None]:
        asked.append(missing)
        return dict.fromkeys(missing, PLAN)

    await cache.plans_for({"b"}, fetch)
    cache.clear()
    await cache.plans_for({"b"}, fetch)
    assert len(asked) == 1
    cache.clear(policy=True)
    await cache.plans_for({"b"}, fetch)
    assert len(asked) == 2


async def test_name_plans_asked_before_a_new_bundle_are_used_once_and_not_kept() -> None:
    cache = VisibilityCache(ttl_s=60)
    started, release = asyncio.Event(), asyncio.Event()

    async def fetch(missing: list[str]) -> dict[str, NamePlan | None]:
        started.set()
        await release.wait()
        return dict.fromkeys(missing, PLAN)

    async with asyncio.TaskGroup() as tasks:
        first = tasks.create_task(cache.plans_for({"b"}, fetch))
        await started.wait()
        cache.clear(policy=True)
        release.set()
    assert dict(first.result()) == {"b": PLAN}
    assert cache.plans == {}


def test_a_catalogs_classes_are_made_once_until_something_changes() -> None:
    cache = VisibilityCache(ttl_s=60)
    made: list[int] = []

    def make() -> ToolClasses:
        made.append(1)
        return ToolClasses((), (), ())

    generation = cache.generation
    cache.classes_for("catalog", make, generation)
    cache.classes_for("catalog", make, generation)
    assert len(made) == 1
    cache.classes_for("catalog", make, generation - 1)  # read before a change: not kept
    cache.clear()
    cache.classes_for("catalog", make, cache.generation)
    assert len(made) == 3


def test_a_class_signature_is_the_same_in_another_catalog() -> None:
    one = tool_classes([("files__read", "files", "read")], ["b"], {}, {"b": PLAN})
    other = tool_classes(
        [("x__write", "files", "write"), ("x__drop", "files", "drop")], ["b", "b"], {}, {"b": PLAN}
    )
    assert one.signatures[0] == other.signatures[0]
    assert other.signatures[1] != other.signatures[0]


def test_a_signature_holds_the_server_facts_of_an_unconfigured_tool_where_the_server_counts() -> (
    None
):
    routes = [("files__a", "files", "a")]
    for plans in ({"b": PLAN}, {"b": None}):
        before = tool_classes(routes, ["b"], {}, plans, {"files": ((), "low")})
        after = tool_classes(routes, ["b"], {}, plans, {"files": (("phi",), "low")})
        assert before.signatures != after.signatures, plans


def test_a_configured_tool_with_its_servers_facts_shares_a_class_with_unconfigured_ones() -> None:
    routes = [("files__a", "files", "a"), ("files__b", "files", "b")]
    configured = {("files", "a"): (("phi",), "low")}
    by_server = {"files": (("phi",), "low")}
    assert len(tool_classes(routes, ["b"] * 2, configured, {"b": PLAN}, by_server).members) == 1


@pytest.mark.parametrize("capacity", [65536, 1])
def test_name_facts_kept_across_lists_give_the_classes_of_a_fresh_start(capacity: int) -> None:
    routes = [
        (f"{server}__{tool}", server, tool)
        for server in ("files", "crm")
        for tool in ("read", "drop", "rm", "patient_list", "réad")
    ]
    names = NameFacts(capacity)
    no_plan: dict[str, NamePlan | None] = {"b": None}
    for plans in ({"b": PLAN}, {"b": ANY_SERVER}, no_plan, {"b": PLAN}, {"b": ANY_SERVER}):
        kept = tool_classes(routes, ["b"] * len(routes), {}, plans, None, names)
        fresh = tool_classes(routes, ["b"] * len(routes), {}, plans)
        assert (kept.members, kept.signatures) == (fresh.members, fresh.signatures), plans


def test_kept_class_decisions_are_found_until_a_new_bundle_or_their_time_is_up() -> None:
    cache = VisibilityCache(ttl_s=60)
    cache.remember({"a": True, "b": False}, cache.generation)
    assert cache.decided(["a", "b", "c"]) == [True, False, None]
    cache.remember({"c": True}, cache.generation - 1)  # asked before a change: not kept
    assert cache.decided(["c"]) == [None]
    cache.clear()  # a new configuration: the keys hold all a decision reads besides the bundle
    assert cache.decided(["a", "b"]) == [True, False]
    cache.clear(policy=True)
    assert cache.decided(["a", "b"]) == [None, None]
    expired = VisibilityCache(ttl_s=0)
    expired.remember({"a": True}, expired.generation)
    assert expired.decided(["a"]) == [None]
