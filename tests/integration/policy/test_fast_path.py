"""The fast path decides every call exactly as OPA's full evaluation does.

For generated configurations (random packs and settings, clock-dependent ones included),
callers (API-key clients and a person), tools, connections, times and arguments (personal data
of every kind, HIPAA's argument names, a large value), `PolicyEngine.decide` with the fast path
gives the same decision — allow, deny reasons, redactions, audit fields, alerts — as an engine
that asks OPA for the full decision of every call, and so does a call with other arguments the
packs read alike (its "twin": other personal data with the same findings, other arguments beside
the same HIPAA record count and fields, decided from the first call's kept decision); after a
reload too, when only what the bundle does not hold (clients' claims) changed.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import orjson
import pytest

from giru.identity import Person
from giru.manifests.config import Config
from giru.manifests.loader import load
from giru.policy import Call
from tests.integration.policy.configurations import (
    ARGUMENTS,
    ROLES,
    TWINS,
    configuration,
    documents,
    routes,
)
from tests.integration.policy.conftest import Opa

pytestmark = pytest.mark.integration

SEEDS = range(24)
HOUR_NS = 3_600_000_000_000
MIDNIGHT_NS = 1_764_115_200_000_000_000  # 2025-11-26T00:00:00Z
PERSON = Person("https://idp.example", "sub-1", "u-1", "Ann", ("g",), ("pwd", "otp"), None)


def calls(rng: random.Random, listed: list[tuple[str, str, str]]) -> list[Call]:
    clients: list[tuple[str, Person | None]] = [(f"c{i}", None) for i in range(3)]
    clients.append(("user:u-1", PERSON))
    made: list[Call] = []
    for _, server, tool in rng.sample(listed, 6):
        for client, person in clients:
            for tls in (True, False):
                for arguments in rng.sample(ARGUMENTS, 3):
                    hour = rng.choice([3, 10])
                    made.append(
                        Call(
                            method="tools/call",
                            server=server,
                            target=tool,
                            arguments=arguments,
                            client=client,
                            subscription=None,
                            virtual_server=None,
                            request_id=f"r-{len(made)}",
                            source_ip="10.0.0.1" if tls else "127.0.0.1",
                            tls=tls,
                            time_ns=MIDNIGHT_NS + hour * HOUR_NS + len(made),
                            protocol_version="2025-06-18",
                            person=person,
                            agent="agent" if person else None,
                        )
                    )
    return made


async def compare(opa: Opa, tmp_path: Path, seed: int) -> dict[str, float]:
    """Decide the seed's calls both ways, each twice, and their twins; the fast path's
    `giru_policy_fast_path_total` by path (plan, kept, full)."""
    config = configuration(seed, tmp_path / "manifests")
    fast = opa.engine(config)
    full = opa.engine(config, fast_path=False)
    try:
        made = calls(random.Random(seed), routes(config))
        for call in made:
            expected = await full.decide(call)
            assert expected.unavailable is None, expected.unavailable
            assert await fast.decide(call) == expected, call
            again = dataclasses.replace(call, request_id="again", time_ns=call.time_ns + 1)
            assert await fast.decide(again) == await full.decide(again), again
        twins = [
            dataclasses.replace(call, arguments=arguments, request_id="twin")
            for call in made
            if (arguments := TWINS.get(orjson.dumps(call.arguments))) is not None
        ]
        for twin in twins:
            assert await fast.decide(twin) == await full.decide(twin), twin
        assert full.decisions.hits + full.decisions.asked == 0
        registry = fast.metrics.registry
        paths = {
            path: registry.get_sample_value("giru_policy_fast_path_total", {"path": path}) or 0.0
            for path in ("plan", "kept", "full")
        }
        assert sum(paths.values()) == 2 * len(made) + len(twins)
        return paths
    finally:
        for engine in (fast, full):
            assert engine.client is not None
            engine.client.close()


@pytest.mark.parametrize("seed", SEEDS)
async def test_the_fast_path_decides_like_the_full_evaluation(
    opa: Opa, tmp_path: Path, seed: int
) -> None:
    await compare(opa, tmp_path, seed)


async def test_a_configuration_s_calls_take_every_path(opa: Opa, tmp_path: Path) -> None:
    paths = await compare(opa, tmp_path, 0)
    assert all(paths[path] > 0 for path in ("plan", "kept", "full")), paths


def _recast(seed: int, folder: Path) -> Config:
    """The seed's configuration with other claims for every client (same servers, tools and
    policies: the same bindings and bundle)."""
    docs = documents(random.Random(seed))
    rng = random.Random(seed + 1000)
    for doc in docs:
        if doc["kind"] == "Client":
            claims = doc["spec"]["claims"]
            claims |= {"role": rng.choice(ROLES), "mfa": not claims["mfa"]}
            claims["network_zone"] = rng.choice(["secure", "dmz"])
    folder.mkdir(parents=True)
    text = "\n---\n".join(orjson.dumps(d).decode() for d in docs)
    (folder / "generated.yaml").write_text(text)
    return load(folder)


@pytest.mark.parametrize("seed", range(6))
async def test_a_reload_that_changes_only_claims_is_decided_with_the_new_claims(
    opa: Opa, tmp_path: Path, seed: int
) -> None:
    """The bundle stays the same when only clients' claims change, yet the decisions kept from
    the old claims are not served for the new ones."""
    before = configuration(seed, tmp_path / "before")
    fast = opa.engine(before)
    made = calls(random.Random(seed), routes(before))
    for call in made:
        await fast.decide(call)
    revision = fast.bundle.revision if fast.bundle is not None else None
    after = _recast(seed, tmp_path / "after")
    fast.reload(after)
    assert fast.bundle is not None
    assert fast.bundle.revision == revision
    full = opa.engine(after, fast_path=False)
    try:
        for call in made:
            assert await fast.decide(call) == await full.decide(call), call
    finally:
        for engine in (fast, full):
            assert engine.client is not None
            engine.client.close()
