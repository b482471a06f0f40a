"""The in-process evaluator fails closed: a decision past the timeout, a bundle needing a builtin
Giru does not provide, a bundle that does not build. Each with the real opa binary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from giru.errors import PolicyUnavailableError
from giru.policy import PolicyEngine, find_opa
from giru.policy.bundle import Bundle, build_bundle, read_sources
from giru.policy.inputs import Call
from giru.policy.wasm import WasmEvaluator

pytestmark = pytest.mark.integration

SLOW = """package giru.decision

default allow := false

# Quadratic in the number of input.items: slow on purpose.
result := {"allow": count([1 | some a in input.items; some b in input.items; a != b]) < 0}

fast := {"result": result}
"""
NEEDS_HTTP = SLOW.replace("< 0}", '< 0, "x": http.send({"method": "GET", "url": "http://x"})}')
ALLOW = 'package giru.decision\n\nresult := {"allow": true}\n\nfast := {"result": result}\n'


def bundle(tmp_path: Path, text: str) -> Bundle:
    (tmp_path / "giru").mkdir(parents=True, exist_ok=True)
    (tmp_path / "giru" / "decision.rego").write_text(text)
    return build_bundle(read_sources([tmp_path]), {})


@pytest.fixture
async def evaluator() -> AsyncIterator[WasmEvaluator]:
    made = WasmEvaluator(find_opa(), timeout_s=0.05)
    yield made
    await made.aclose()


async def test_a_decision_past_the_timeout_fails_closed(
    evaluator: WasmEvaluator, tmp_path: Path
) -> None:
    await evaluator.build(bundle(tmp_path, SLOW))
    assert evaluator.error is None
    assert await evaluator.query("giru/decision/result", {"items": [1, 2]}) == {"allow": False}
    with pytest.raises(PolicyUnavailableError, match="did not decide within 50 ms"):
        await evaluator.query("giru/decision/result", {"items": list(range(5000))})
    # the next decision is made by a fresh instance
    assert await evaluator.query("giru/decision/result", {"items": []}) == {"allow": False}


async def test_a_bundle_needing_a_builtin_giru_lacks_is_refused_and_the_active_one_stays(
    evaluator: WasmEvaluator, tmp_path: Path
) -> None:
    await evaluator.build(bundle(tmp_path / "a", ALLOW))
    active = evaluator.revision
    await evaluator.build(bundle(tmp_path / "b", NEEDS_HTTP))
    assert evaluator.error is not None
    assert "lacks: http.send" in evaluator.error
    assert evaluator.revision == active
    assert await evaluator.query("giru/decision/result", {}) == {"allow": True}


async def test_a_bundle_that_does_not_build_is_refused_and_nothing_is_decided(
    evaluator: WasmEvaluator, tmp_path: Path
) -> None:
    await evaluator.build(bundle(tmp_path, "package giru.other\n\nx := 1\n"))
    assert evaluator.error is not None
    assert "opa build -t wasm failed" in evaluator.error
    with pytest.raises(PolicyUnavailableError, match="opa build -t wasm failed"):
        await evaluator.query("giru/decision/result", {})


async def test_the_engine_denies_with_unavailable_when_the_module_is_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / "giru").mkdir()
    (tmp_path / "giru" / "decision.rego").write_text(NEEDS_HTTP)
    (tmp_path / "core").mkdir()  # the pack every binding enables
    (tmp_path / "core" / "empty.rego").write_text("package giru.packs.core.empty\n")
    engine = PolicyEngine(
        [tmp_path],
        opa_url=None,
        opa_binary=find_opa(),
        bundle_url="",
        timeout_s=0.05,
        evaluator="wasm",
    )
    engine.sources = read_sources([tmp_path])
    engine.reload(engine._config)
    assert engine.wasm is not None
    assert engine.bundle is not None
    await engine.wasm.build(engine.bundle)
    call = Call(
        method="tools/call",
        server="s",
        target="t",
        arguments={},
        client="c",
        subscription=None,
        virtual_server=None,
        request_id="r",
        source_ip="127.0.0.1",
        tls=False,
        time_ns=0,
        protocol_version="2025-06-18",
    )
    try:
        decision = await engine.decide(call)
        assert decision.allow is False
        assert decision.unavailable is not None
        assert "http.send" in decision.unavailable
    finally:
        await engine.aclose()
