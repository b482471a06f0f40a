"""The in-process evaluator (the bundle compiled to WebAssembly) decides exactly as OPA does.

Differential: for generated configurations (random packs and settings, clock-dependent ones
included), callers, tools, connections, times and arguments (personal data of every kind,
HIPAA's argument names, a large value), the same input documents go to a real OPA and to the
bundle built by `opa build -t wasm` and run by giru.policy.wasm: the full decision, the fast
path's question and `PolicyEngine.decide` (fast path on) give equal answers. Documents with
fields missing or of odd types too. And the packs' own Rego tests, compiled to WebAssembly and
run with Giru's host builtins, all pass. OPA is the reference.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from giru.errors import PolicyUnavailableError
from giru.manifests.config import Config
from giru.policy import PolicyEngine, find_opa
from giru.policy.bundle import read_sources, shipped_policies
from giru.policy.fast_path import Querier
from giru.policy.wasm import WasmEvaluator, load_policy
from tests.integration.policy.configurations import configuration, routes
from tests.integration.policy.conftest import Opa
from tests.integration.policy.test_fast_path import calls

pytestmark = pytest.mark.integration

SEEDS = range(24)
RESULT, FAST = "giru/decision/result", "giru/decision/fast"


async def wasm_engine(config: Config) -> PolicyEngine:
    shipped = shipped_policies()
    assert shipped is not None
    engine = PolicyEngine(
        [shipped],
        opa_url=None,
        opa_binary=find_opa(),
        bundle_url="",
        timeout_s=10,
        evaluator="wasm",
    )
    engine.sources = read_sources(engine.directories)
    engine.reload(config)
    assert engine.wasm is not None
    assert engine.bundle is not None
    await engine.wasm.build(engine.bundle)
    assert engine.wasm.error is None, engine.wasm.error
    return engine


async def answer(querier: Querier, path: str, document: Any) -> Any:
    """The result, or the fact that there is none (undefined, an error)."""
    try:
        return await querier.query(path, document)
    except PolicyUnavailableError:
        return "<no result>"


@pytest.fixture
async def engines(opa: Opa, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    config = configuration(request.param, tmp_path / "manifests")
    full = opa.engine(config, fast_path=False)
    wasm = await wasm_engine(config)
    try:
        yield request.param, config, full, wasm
    finally:
        await wasm.aclose()
        assert full.client is not None
        full.client.close()


@pytest.mark.parametrize("engines", SEEDS, indirect=True)
async def test_the_wasm_evaluator_decides_like_opa(engines: Any) -> None:
    seed, config, full, wasm = engines
    assert full.client is not None
    assert wasm.wasm is not None
    for call in calls(random.Random(seed), routes(config)):
        document = full.input_for(call)
        expected = await answer(full.client, RESULT, document)
        assert expected != "<no result>"
        assert await answer(wasm.wasm, RESULT, document) == expected, call
        nothing = {"arguments": {}, "arguments_bytes": 0, "argument_findings": []}
        empty = {**document, "mcp": {**document["mcp"], **nothing}}
        asked = {**empty, "topics": full.sources.topics}
        assert await answer(wasm.wasm, FAST, asked) == await answer(full.client, FAST, asked)
        assert await wasm.decide(call) == await full.decide(call), call


def _odd(document: dict[str, Any]) -> list[dict[str, Any]]:
    """`document` with fields missing or of unexpected types."""
    mcp, context = document["mcp"], document["context"]
    bare = {k: v for k, v in mcp.items() if k != "argument_findings"}  # the Rego detects
    return [
        {k: v for k, v in document.items() if k != "mcp"},
        {k: v for k, v in document.items() if k != "context"},
        {**document, "binding": 7},
        {**document, "binding": "no-such-binding"},
        {**document, "mcp": {k: v for k, v in bare.items() if k != "arguments"}},
        {**document, "mcp": bare},
        {**document, "mcp": {**mcp, "argument_findings": {"kind": "pan"}}},
        {**document, "mcp": {**bare, "arguments": ["4111 1111 1111 1111"]}},
        {**document, "mcp": {**bare, "arguments": {"card": 4111111111111111.0, "n": None}}},
        {**document, "mcp": {**bare, "arguments": {"x": {"y": [1.5, True, "a@b.c", 1e300]}}}},
        {**document, "mcp": {**mcp, "tool": None}},
        {**document, "mcp": {**mcp, "tool": {**mcp["tool"], "tags": "phi"}}},
        {**document, "context": {**context, "claims": {"role": 3, "mfa": "yes"}}},
        {**document, "context": {**context, "user_id": None, "user_role": ["nurse"]}},
        {**document, "request": {**document["request"], "time_ns": -1}},
        {**document, "request": {**document["request"], "time_ns": "noon"}},
        {},
    ]


@pytest.mark.parametrize("engines", range(8), indirect=True)
async def test_documents_with_missing_fields_and_odd_types_get_opa_s_answer(
    engines: Any,
) -> None:
    seed, config, full, wasm = engines
    assert full.client is not None
    assert wasm.wasm is not None
    for call in calls(random.Random(seed), routes(config))[:12]:
        for document in _odd(full.input_for(call)):
            expected = await answer(full.client, RESULT, document)
            assert await answer(wasm.wasm, RESULT, document) == expected, document


async def test_an_evaluator_without_a_module_fails_closed() -> None:
    evaluator = WasmEvaluator(find_opa(), timeout_s=1)
    try:
        with pytest.raises(PolicyUnavailableError, match="no policy module is active"):
            await evaluator.query(RESULT, {})
    finally:
        await evaluator.aclose()


def compiled_pack_tests(out: Path) -> tuple[list[str], bytes]:
    """The Rego tests of policies/ (what `opa test` runs) and an `opa build -t wasm` archive
    with each of them as an entrypoint."""
    opa, policies = find_opa(), shipped_policies()
    assert policies is not None
    listed = subprocess.run(
        [str(opa), "test", "--format", "json", str(policies)],
        capture_output=True,
        check=True,
        timeout=120,
    )
    tests = [
        f"{found['package'].removeprefix('data.').replace('.', '/')}/{found['name']}"
        for found in orjson.loads(listed.stdout)
    ]
    argv = [str(opa), "build", "-t", "wasm", "-o", str(out)]
    argv += [flag for test in tests for flag in ("-e", test)]
    subprocess.run([*argv, str(policies)], capture_output=True, check=True, timeout=120)
    return tests, out.read_bytes()


async def test_every_pack_test_passes_in_process(tmp_path: Path) -> None:
    """The packs' Rego tests, evaluated by the in-process evaluator with Giru's host builtins:
    every one is true, as under `opa test`."""
    tests, archive = compiled_pack_tests(tmp_path / "tests.tar.gz")
    assert len(tests) > 100
    evaluator = WasmEvaluator(None, timeout_s=10)
    try:
        evaluator.activate(load_policy("tests", archive, evaluator.engine))
        failed = [test for test in tests if await answer(evaluator, test, {}) is not True]
    finally:
        await evaluator.aclose()
    assert failed == []
