"""One `visible` query per caller gives what the packs' visibility rule gives tool by tool.

The reference is OPA's own `data.giru.decision.visible` with every tool its own item (each is
evaluated on its own, as the code before classes asked), built here from the decision input of
each tool (its binding follows the caller's subscription); Giru's answer is
`PolicyEngine.visible`: one representative per class, cached, single flight. Over the
quickstart's real tool list with policies layered on it, and over generated catalogs of about
1,000 tools with several clients, subscriptions in several environments and policies selected
by environment. Then 64 concurrent lists right after a change, at Giru's default decision
timeout: every list answered, none with a tool hidden, one query per caller.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import shutil
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from giru.access.grants import compile_grants
from giru.errors import PolicyUnavailableError
from giru.manifests.config import Config
from giru.manifests.loader import load
from giru.policy import Call, PolicyEngine
from giru.policy.bundle import CHECKOUT, read_sources
from tests.integration.policy.configurations import API, PACKS, _settings, large_configuration
from tests.integration.policy.conftest import Opa
from tests.integration.policy.test_visibility import PERSON, listing

pytestmark = pytest.mark.integration

Route = tuple[str, str, str]
QUICKSTART = CHECKOUT / "examples" / "quickstart"
QUICKSTART_TOOLS = CHECKOUT / "bench" / "data" / "search" / "quickstart-tools.json"


def quickstart_routes() -> list[Route]:
    captured = orjson.loads(QUICKSTART_TOOLS.read_bytes())
    return [
        (f"{server}__{tool['name']}", server, str(tool["name"]))
        for server, tools in sorted(captured.items())
        for tool in tools
    ]


def quickstart(seed: int, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """The quickstart's manifests with a policy of random packs and settings over them, whose
    deny and approval lists name some of its real tools."""
    monkeypatch.setenv("GIRU_DEMO_KEY", "giru-demo-key")
    shutil.copytree(QUICKSTART, folder, ignore=shutil.ignore_patterns("*.md"))
    rng = random.Random(seed)
    named = rng.sample(quickstart_routes(), 4)
    packs = ["core", *rng.sample(PACKS, rng.randint(1, len(PACKS)))]
    data = {pack: _settings(rng, pack) for pack in packs}
    data["core"] |= {
        "denied_tools": [named[0][2], f"{named[1][1]}/{named[1][2]}"],
        "approval_tools": [named[2][2]],
        "denied_tags": rng.sample(["demo", "test"], rng.randint(0, 1)),
    }
    policy = {"packs": packs, "selector": {}, "data": data}
    document = {"apiVersion": API, "kind": "Policy", "metadata": {"name": "layered"}}
    (folder / "policy.yaml").write_bytes(orjson.dumps({**document, "spec": policy}))
    return load(folder)


def subscriptions_of(config: Config, client: str, routes: Sequence[Route]) -> dict[str, str | None]:
    grants = compile_grants(config, datetime.now(UTC)).get(client)
    if grants is None:
        return dict.fromkeys((name for name, _, _ in routes), None)
    return {
        name: grants.tools.get((server, tool)) or grants.servers.get(server)
        for name, server, tool in routes
    }


async def reference(
    engine: PolicyEngine, call: Call, subscriptions: Mapping[str, str | None], routes: list[Route]
) -> frozenset[str]:
    """The packs' visibility rule, every tool its own item of one `visible` query."""
    base = engine.input_for(call)
    items = []
    for name, server, tool in routes:
        asked = dataclasses.replace(
            call, method="tools/call", server=server, target=tool, subscription=subscriptions[name]
        )
        document = engine.input_for(asked)
        item: dict[str, Any] = {
            "server": server,
            "virtual_server": None,
            "tool": document["mcp"]["tool"],
            "binding": document["binding"],
            "key": name,
        }
        items.append(item)
    asked_input = {key: base[key] for key in ("context", "subject", "client", "request")}
    asked_input |= {"subscription": None, "tools": items}
    assert engine.client is not None
    answer = await engine.client.query("giru/decision/visible", asked_input, timeout_s=60)
    assert isinstance(answer, list)
    return frozenset(str(key) for key in answer)


def listed(engine: PolicyEngine, outcome: str) -> float:
    """giru_policy_visibility_total{outcome} of the engine's metrics."""
    name, labels = "giru_policy_visibility_total", {"outcome": outcome}
    return engine.metrics.registry.get_sample_value(name, labels) or 0.0


def callers(config: Config) -> list[Call]:
    found = [listing(client, tls=tls) for client in config.clients for tls in (True, False)]
    return [*found, listing("user:u-1", tls=True, person=PERSON)]


async def differential(config: Config, engine: PolicyEngine, routes: list[Route]) -> set[int]:
    """Asserts Giru's answer equals the reference for every caller; the sizes seen."""
    sizes = set()
    for call in callers(config):
        subscriptions = subscriptions_of(config, call.client, routes)
        expected = await reference(engine, call, subscriptions, routes)
        assert await engine.visible(call, subscriptions, routes) == expected, call
        sizes.add(len(expected))
    return sizes


@pytest.mark.parametrize("seed", range(6))
async def test_quickstart_visibility_by_one_query_equals_the_rule_tool_by_tool(
    opa: Opa, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    config = quickstart(seed, tmp_path / "quickstart", monkeypatch)
    engine = opa.engine(config)
    routes = quickstart_routes()
    try:
        sizes = await differential(config, engine, routes)
        assert min(sizes) < len(routes)  # the layered policy hides some tools
    finally:
        assert engine.client is not None
        engine.client.close()


@pytest.mark.parametrize("seed", range(3))
async def test_a_thousand_tool_catalog_with_subscriptions_equals_the_rule_tool_by_tool(
    opa: Opa, tmp_path: Path, seed: int
) -> None:
    config = large_configuration(seed, tmp_path / "manifests", tools_per_server=250)
    engine = opa.engine(config)
    routes = [(f"{s}__{t}", s, t) for s, spec in config.servers.items() for t in spec.tools]
    assert len(routes) >= 1000
    try:
        await differential(config, engine, routes)
        assert listed(engine, "unavailable") == 0
    finally:
        assert engine.client is not None
        engine.client.close()


async def test_64_concurrent_lists_of_1000_tools_right_after_a_change_hide_nothing(
    opa: Opa, tmp_path: Path
) -> None:
    config = large_configuration(7, tmp_path / "manifests", tools_per_server=250)
    engine = opa.engine(config, timeout_s=0.25)  # Giru's default policy.timeout_ms
    routes = tuple((f"{s}__{t}", s, t) for s, spec in config.servers.items() for t in spec.tools)
    asking = [listing("c0", tls=True), listing("c1", tls=True), listing("c2", tls=False)]
    asking.append(listing("user:u-1", tls=True, person=PERSON))
    subscriptions = [subscriptions_of(config, call.client, routes) for call in asking]
    try:
        expected = [
            await reference(engine, call, subs, list(routes))
            for call, subs in zip(asking, subscriptions, strict=True)
        ]
        await engine.visible(asking[0], subscriptions[0], routes)  # connections warm
        engine.visibility.clear(policy=True)  # a new bundle: plans, classes, answers forgotten
        computed = engine.visibility.computations
        answers = await asyncio.gather(
            *(engine.visible(asking[i % 4], subscriptions[i % 4], routes) for i in range(64))
        )
        for index, answer in enumerate(answers):
            assert answer == expected[index % 4], asking[index % 4]
        assert engine.visibility.computations - computed == 4  # one query per caller
        assert listed(engine, "unavailable") == 0
        assert listed(engine, "shared") == 60
    finally:
        assert engine.client is not None
        engine.client.close()


async def test_when_opa_does_not_answer_the_list_shows_nothing_and_is_counted(
    tmp_path: Path,
) -> None:
    config = large_configuration(0, tmp_path / "manifests", tools_per_server=5)
    engine = PolicyEngine(
        [CHECKOUT / "policies"],
        opa_url=f"unix://{tmp_path / 'nobody.sock'}",
        opa_binary=None,
        bundle_url="",
        timeout_s=0.25,
    )
    engine.sources = read_sources(engine.directories)
    engine.reload(config)
    routes = [(f"{s}__{t}", s, t) for s, spec in config.servers.items() for t in spec.tools]
    subscriptions = dict.fromkeys((name for name, _, _ in routes), None)
    try:
        with pytest.raises(PolicyUnavailableError):
            await engine.visible(listing("c0", tls=True), subscriptions, routes)
        assert listed(engine, "unavailable") == 1
        assert listed(engine, "computed") == 0
    finally:
        assert engine.client is not None
        engine.client.close()


async def test_a_person_whose_token_carries_other_groups_is_asked_about_again(
    opa: Opa, tmp_path: Path
) -> None:
    config = large_configuration(3, tmp_path / "manifests", tools_per_server=20)
    engine = opa.engine(config)
    routes = tuple((f"{s}__{t}", s, t) for s, spec in config.servers.items() for t in spec.tools)
    subscriptions = dict.fromkeys((name for name, _, _ in routes), None)
    before = listing("user:u-1", tls=True, person=PERSON)
    regrouped = dataclasses.replace(PERSON, groups=("g", "clinicians"))
    after = listing("user:u-1", tls=True, person=regrouped)
    try:
        await engine.visible(before, subscriptions, routes)
        await engine.visible(before, subscriptions, routes)
        assert engine.visibility.computations == 1
        answer = await engine.visible(after, subscriptions, routes)
        assert engine.visibility.computations == 2
        assert answer == await reference(engine, after, subscriptions, list(routes))
    finally:
        assert engine.client is not None
        engine.client.close()


async def test_a_new_catalog_asks_opa_only_about_classes_the_caller_has_not_been_decided_for(
    opa: Opa, tmp_path: Path
) -> None:
    config = large_configuration(5, tmp_path / "manifests", tools_per_server=250)
    engine = opa.engine(config)
    routes = [(f"{s}__{t}", s, t) for s, spec in config.servers.items() for t in spec.tools]
    call = listing("c1", tls=True)
    subscriptions = subscriptions_of(config, "c1", routes)
    try:
        await engine.visible(call, subscriptions, tuple(routes))
        asked = engine.visibility.classes_asked
        assert asked > 0
        same = tuple(routes)  # the same tools in a new catalog (a view rebuilt)
        assert await engine.visible(call, subscriptions, same) == await reference(
            engine, call, subscriptions, routes
        )
        assert engine.visibility.classes_asked == asked
        server = routes[0][1]
        grown = [*routes[10:], (f"{server}__brand_new", server, "brand_new")]  # a tool added
        grown_subscriptions = subscriptions_of(config, "c1", grown)
        answer = await engine.visible(call, grown_subscriptions, tuple(grown))
        assert answer == await reference(engine, call, grown_subscriptions, grown)
        assert engine.visibility.classes_asked - asked <= 1  # at most the new tool's class
        assert engine.visibility.computations == 3
    finally:
        assert engine.client is not None
        engine.client.close()
