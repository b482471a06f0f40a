"""`call.safe_label` without regular expressions labels as the regex version did: a real OPA
and the in-process evaluator (the Rego compiled to WebAssembly) give both definitions' labels
for every string literal of the packs' Rego tests and seeded random strings (identifier
characters, digits, separators, spaces, newlines, non-ASCII letters and digits; 0 to 70
characters)."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from giru.policy import find_opa
from giru.policy.wasm import WasmEvaluator, load_policy
from tests.integration.policy.test_findings import corpus

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
CALL = REPO / "policies" / "lib" / "call.rego"
PROBE = """package probe

import data.giru.lib.call

# The regex definition safe_label had (the reference).
regex_label(s) := s if {
	is_string(s)
	regex.match(`^[A-Za-z0-9_.:/-]{1,64}$`, s)
	count(regex.find_n(`[0-9]`, s, -1)) <= 6
}

else := "(unnamed)"

labels := [[regex_label(s), call.safe_label(s)] | some s in input.labels]
"""
ALPHABET = "abcXYZ_.:/-0123456789 \n\t\u00e9\u0661@+"


def labels() -> list[Any]:
    rng = random.Random(64)
    found: list[Any] = [v for v in corpus() if isinstance(v, str)]
    for _ in range(1500):
        length = rng.choice([rng.randint(0, 10), rng.randint(55, 70)])
        alphabet = ALPHABET[: rng.randint(5, len(ALPHABET))]
        found.append("".join(rng.choice(alphabet) for _ in range(length)))
    return [*found, 7, None, ["a"], {"a": 1}]


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("probe")
    (folder / "call.rego").write_text(CALL.read_text())
    (folder / "probe.rego").write_text(PROBE)
    return folder


def test_opa_labels_alike(probe: Path) -> None:
    argv = [str(find_opa()), "eval", "--format=json", "--stdin-input", "-d", str(probe)]
    done = subprocess.run(
        [*argv, "data.probe.labels"],
        input=orjson.dumps({"labels": labels()}),
        capture_output=True,
        timeout=120,
        check=True,
    )
    pairs = orjson.loads(done.stdout)["result"][0]["expressions"][0]["value"]
    assert [pair for pair in pairs if pair[0] != pair[1]] == []
    named = [old for old, _ in pairs if old != "(unnamed)"]
    assert len(named) > 100
    assert sum(1 for old in named if len(old) == 64) > 5
    assert len(pairs) - len(named) > 100


@pytest.fixture(scope="module")
def compiled(probe: Path) -> bytes:
    """The probe built by `opa build -t wasm`."""
    archive = probe.parent / "probe.tar.gz"
    argv = [str(find_opa()), "build", "-t", "wasm", "-e", "probe/labels", "-o", str(archive)]
    subprocess.run([*argv, str(probe)], capture_output=True, check=True, timeout=120)
    return archive.read_bytes()


async def test_the_in_process_evaluator_labels_alike(compiled: bytes) -> None:
    evaluator = WasmEvaluator(None, timeout_s=30)
    try:
        evaluator.activate(load_policy("probe", compiled, evaluator.engine))
        pairs = await evaluator.query("probe/labels", {"labels": labels()})
    finally:
        await evaluator.aclose()
    assert [pair for pair in pairs if pair[0] != pair[1]] == []
