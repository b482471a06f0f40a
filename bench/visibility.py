"""tools/list visibility points of `bench.policy`: before (every tool decided on its own, no
sharing: the code before issue 15) and after (by class, cached, single flight), same OPA, same run.

A *change* is `engine.visibility.clear()` (what a new bundle, configuration or catalog does).
At concurrency 1 every list follows a change: the cost of the first tools/list after it. At
concurrency 16 and 64, each round makes one change and then that many clients list at once
(callers alternate between the two configured clients): what a fleet of agents sees right after
a policy or catalog change. `over_250ms` counts lists slower than Giru's default decision
timeout, `unavailable` the lists that got no answer within the bench's own 10 s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bench.client import stats
from bench.procs import cpu_seconds
from giru.errors import PolicyUnavailableError
from giru.policy import Call, PolicyEngine

__all__ = ["TARGET_FIRST_LIST_US", "measure_visibility"]

GIRU_TIMEOUT_US = 250_000
TARGET_FIRST_LIST_US = 5_000
Say = Callable[[str], None]
Routes = list[tuple[str, str, str]]


def _listing(client: str, index: int) -> Call:
    return Call(
        method="tools/list",
        server="",
        target="",
        arguments={},
        client=client,
        subscription=None,
        virtual_server=None,
        request_id=f"bench-list-{index:08d}",
        source_ip="127.0.0.1",
        tls=False,
        time_ns=time.time_ns(),
        protocol_version="2025-06-18",
    )


def _change(engine: PolicyEngine, before: bool) -> None:
    engine.visibility.clear()
    if before:  # no name plans: every tool in a class of its own, as the old query sent them
        engine.visibility.plans.update(dict.fromkeys(engine.bindings))


async def _one(engine: PolicyEngine, routes: Routes, client: str, index: int) -> tuple[float, str]:
    subscriptions: dict[str, str | None] = dict.fromkeys((name for name, _, _ in routes), None)
    began = time.perf_counter_ns()
    try:
        visible = await engine.visible(_listing(client, index), subscriptions, routes)
        outcome = f"{len(visible)} of {len(routes)} visible"
    except PolicyUnavailableError:
        outcome = "unavailable"
    return (time.perf_counter_ns() - began) / 1000, outcome


async def _rounds(
    engine: PolicyEngine, routes: Routes, concurrency: int, rounds: int, before: bool
) -> tuple[list[float], dict[str, int]]:
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    clients = ("nurse", "physician")
    for round_ in range(rounds):
        _change(engine, before)
        if before:  # no single flight before: every list computed on its own
            jobs = []
            for i in range(concurrency):
                jobs.append(_unshared(engine, routes, clients[i % 2], round_ * concurrency + i))
            done = await asyncio.gather(*jobs)
        else:
            done = await asyncio.gather(
                *(
                    _one(engine, routes, clients[i % 2], round_ * concurrency + i)
                    for i in range(concurrency)
                )
            )
        for latency, outcome in done:
            latencies.append(latency)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return latencies, outcomes


async def _unshared(
    engine: PolicyEngine, routes: Routes, client: str, index: int
) -> tuple[float, str]:
    """A list that shares nothing with the others (distinct catalog key, fresh cache)."""
    unique = [*routes, (f"bench-unshared-{index}", routes[0][1], routes[0][2])]
    return await _one(engine, unique, client, index)


async def _point(
    engine: PolicyEngine, opa_pid: int, routes: Routes, concurrency: int, rounds: int, before: bool
) -> dict[str, Any]:
    if not before:  # warm: connections, OPA's caches (before is slow enough without)
        await _rounds(engine, routes, concurrency, 1, before)
    opa0, cpu0, wall0 = cpu_seconds(opa_pid), time.process_time(), time.perf_counter()
    latencies, outcomes = await _rounds(engine, routes, concurrency, rounds, before)
    wall = time.perf_counter() - wall0
    cpu, opa = time.process_time() - cpu0, cpu_seconds(opa_pid) - opa0
    count = len(latencies)
    return {
        "input": f"tools/list visible, {len(routes)} tools",
        "path": "before: tool by tool" if before else "after: by class, cached",
        "mode": "first list after a change" if concurrency == 1 else "lists right after a change",
        "tools": len(routes),
        "concurrency": concurrency,
        "lists": count,
        "changes": rounds,
        "lists_per_s": round(count / wall, 1),
        **stats(latencies),
        "over_250ms": sum(1 for latency in latencies if latency > GIRU_TIMEOUT_US),
        "unavailable": outcomes.get("unavailable", 0),
        "giru_cpu_us_per_list": round(cpu / count * 1e6, 1),
        "opa_cpu_us_per_list": round(opa / count * 1e6, 1),
        "outcomes": outcomes,
    }


# (tools per server, concurrency, rounds, before too). Before, 16 or 64 lists of 1,000 tools
# each take OPA minutes (0.2 s of CPU per list on one core), so those points are after only.
PLAN: tuple[tuple[int, int, int, bool], ...] = (
    (20, 1, 30, True),
    (200, 1, 10, True),
    (20, 16, 3, True),
    (20, 64, 2, True),
    (200, 16, 5, False),
    (200, 64, 5, False),
)


async def measure_visibility(
    engine: PolicyEngine, opa_pid: int, routes_for: Callable[[int], Routes], say: Say
) -> list[dict[str, Any]]:
    points = []
    for per_server, concurrency, rounds, with_before in PLAN:
        routes = routes_for(per_server)
        for before in (True, False) if with_before else (False,):
            point = await _point(engine, opa_pid, routes, concurrency, rounds, before)
            points.append(point)
            say(_line(point))
    _change(engine, False)
    return points


def _line(p: dict[str, Any]) -> str:
    return (
        f"  {p['input']:<30} {p['path']:<24} c={p['concurrency']:<3} p50 {p['p50_us']:>10.1f} "
        f"p99 {p['p99_us']:>10.1f} µs | CPU µs/list giru {p['giru_cpu_us_per_list']:>8.1f} opa "
        f"{p['opa_cpu_us_per_list']:>9.1f} | over 250 ms {p['over_250ms']}, unavailable "
        f"{p['unavailable']}"
    )
