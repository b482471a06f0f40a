"""tools/list visibility by class, and its cache: one computation per caller and catalog,
shared by concurrent calls, forgotten on any change."""

from __future__ import annotations

import asyncio

import pytest

from giru.errors import PolicyUnavailableError
from giru.policy.visibility import (
    Listed,
    NamePlan,
    Same,
    VisibilityCache,
    name_plan,
    tool_classes,
)

PLAN = NamePlan(frozenset({"drop", "files/rm"}), ("medical", "patient"))


def entry(
    name: str,
    server: str = "files",
    tags: tuple[str, ...] = (),
    sensitivity: str = "low",
    binding: str = "b",
) -> Listed:
    return Listed(f"{server}__{name}", server, name, binding, (tags, sensitivity))


def test_tools_differing_only_in_undeclared_names_share_a_class() -> None:
    tools = [entry("read"), entry("write"), entry("list")]
    assert tool_classes(tools, {"b": PLAN}) == [[0, 1, 2]]


@pytest.mark.parametrize(
    ("other", "why"),
    [
        (entry("drop"), "a name a pack compares"),
        (entry("rm"), "a <server>/<name> a pack compares"),
        (entry("Patient_chart"), "a declared substring, case-insensitively"),
        (entry("read2", server="crm"), "another server"),
        (entry("read3", tags=("phi",)), "other tags"),
        (entry("read4", sensitivity="high"), "another sensitivity"),
        (entry("read5", binding="c"), "another binding"),
        (entry("réad"), "a name beyond ASCII (lowercasing differs between Go and Python)"),
    ],
)
def test_a_tool_that_differs_in_what_a_decision_reads_gets_its_own_class(
    other: Listed, why: str
) -> None:
    assert tool_classes([entry("read"), other], {"b": PLAN, "c": PLAN}) == [[0], [1]], why


def test_without_a_plan_every_tool_is_its_own_class() -> None:
    assert tool_classes([entry("read"), entry("write")], {"b": None}) == [[0], [1]]
    assert tool_classes([entry("read"), entry("write")], {}) == [[0], [1]]


def test_plans_come_from_the_declared_names_and_substrings() -> None:
    assert name_plan({"exact": ["drop", 3], "substrings": ["patient", "medical"]}) == NamePlan(
        frozenset({"drop"}), ("medical", "patient")
    )
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
