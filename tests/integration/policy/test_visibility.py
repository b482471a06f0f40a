"""tools/list decided by class gives what deciding every tool on its own gives.

For generated configurations (random packs, settings, tools and callers), the visible set from
`PolicyEngine.visible` (one `visible` query over one representative per class) equals the set of
tools for which the full decision of a call without arguments allows: OPA's own evaluation,
tool by tool, is the reference.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from giru.identity import Person
from giru.policy import Call, PolicyEngine
from tests.integration.policy.configurations import configuration, reconfiguration, routes
from tests.integration.policy.conftest import Opa

pytestmark = pytest.mark.integration

SEEDS = range(24)
NOW_NS = 1_764_115_200_000_000_000
PERSON = Person("https://idp.example", "sub-1", "u-1", "Ann", ("g",), ("pwd", "otp"), None)


def listing(client: str, *, tls: bool, person: Person | None = None) -> Call:
    return Call(
        method="tools/list",
        server="",
        target="",
        arguments={},
        client=client,
        subscription=None,
        virtual_server=None,
        request_id="r-1",
        source_ip="10.0.0.1" if tls else "127.0.0.1",
        tls=tls,
        time_ns=NOW_NS,
        protocol_version="2025-06-18",
        person=person,
        agent="agent" if person else None,
    )


async def reference(
    engine: PolicyEngine, call: Call, listed: list[tuple[str, str, str]]
) -> set[str]:
    visible = set()
    for name, server, tool in listed:
        decision = await engine.decide(dataclasses.replace(call, server=server, target=tool))
        assert decision.unavailable is None, decision.unavailable
        if decision.allow:
            visible.add(name)
    return visible


@pytest.mark.parametrize("seed", SEEDS)
async def test_visibility_by_class_equals_the_full_decision_tool_by_tool(
    opa: Opa, tmp_path: Path, seed: int
) -> None:
    config = configuration(seed, tmp_path / "manifests")
    engine = opa.engine(config)
    listed = routes(config)
    subscriptions: dict[str, str | None] = dict.fromkeys((name for name, _, _ in listed), None)
    try:
        callers = [listing(c, tls=tls) for c in config.clients for tls in (True, False)]
        callers.append(listing("user:u-1", tls=True, person=PERSON))
        for call in callers:
            expected = await reference(engine, call, listed)
            assert await engine.visible(call, subscriptions, listed) == expected, call
        plans = engine.visibility.plans
        assert plans
        assert all(plan is not None for plan in plans.values())
    finally:
        assert engine.client is not None
        engine.client.close()


@pytest.mark.parametrize("seed", range(12))
async def test_after_a_new_configuration_the_next_list_equals_the_full_decision_tool_by_tool(
    opa: Opa, tmp_path: Path, seed: int
) -> None:
    """Class decisions outlive a new configuration (same bundle): what they read that the
    configuration changed (tool and server tags, sensitivity, then client claims) must make
    the very next list ask again."""
    engine = opa.engine(configuration(seed, tmp_path / "before"))
    try:
        revision = engine.bundle.revision if engine.bundle else None
        callers = [listing(f"c{i}", tls=tls) for i in range(3) for tls in (True, False)]
        changes = [(seed, seed), (seed + 1000, seed), (seed + 1000, seed + 1000)]
        for index, (servers, clients) in enumerate(changes):
            config = reconfiguration(seed, servers, clients, tmp_path / str(index))
            engine.reload(config)
            assert engine.bundle is not None
            assert engine.bundle.revision == revision
            listed = routes(config)
            subscriptions: dict[str, str | None] = dict.fromkeys((n for n, _, _ in listed), None)
            for call in callers:
                expected = await reference(engine, call, listed)
                assert await engine.visible(call, subscriptions, listed) == expected, call
    finally:
        assert engine.client is not None
        engine.client.close()


async def test_concurrent_lists_of_one_caller_are_computed_once_until_a_change(
    opa: Opa, tmp_path: Path
) -> None:
    config = configuration(0, tmp_path / "manifests")
    engine = opa.engine(config)
    listed = routes(config)
    subscriptions: dict[str, str | None] = dict.fromkeys((name for name, _, _ in listed), None)
    call = listing("c0", tls=True)
    try:
        answers = await asyncio.gather(
            *(engine.visible(call, subscriptions, listed) for _ in range(64))
        )
        assert len(set(answers)) == 1
        assert engine.visibility.computations == 1
        await engine.visible(call, subscriptions, listed[1:])  # another catalog
        assert engine.visibility.computations == 2
        # a new configuration (tool tags, claims and subscriptions are not in the bundle)
        engine.reload(config)
        await engine.visible(call, subscriptions, listed)
        assert engine.visibility.computations == 3
    finally:
        assert engine.client is not None
        engine.client.close()
