"""`python -m bench.policy_findings [--rounds R] [--calls N]`: what handing the policy Giru's
own findings (`input.mcp.argument_findings`, giru.policy.findings) saves per decision against
the Rego detecting personal data in the arguments itself, on the OPA sidecar and in process.

bench.policy's bundle and configuration (packs core, pci_dss, hipaa, soc2) and its PCI, PHI and
small inputs, each decided through `PolicyEngine.decide` on uvloop at concurrency 16. Sides:
"sidecar, rego detects" and "wasm, rego detects" (the input built without
`argument_findings`, so `pii.argument_findings` runs `findings(...)` as before), "sidecar,
findings given" and "wasm, findings given" (the work tree: Giru finds in Python once per call,
the Rego reads the list), "wasm, findings given again" (the A/A pair) and "wasm, regex
safe_label" (findings given, `call.safe_label` as it was before 9bcbfee: a regex.match, which
OPA's Wasm compiles on every call). One OPA process serves both sidecar sides (the same
bundle). Before timing, every side must decide every input
alike. CPU = this process + the OPA process (kernel CPU clocks) per decision; median of the
per-round paired differences with a bootstrap 95 % interval (bench.pairs.alternate). Printed,
never asserted.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import time
import timeit
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final
from unittest.mock import patch

import orjson

from bench.pairs import Side, alternate, describe, process_cpu_ns
from bench.policy import INPUTS
from bench.policy_wasm import LABELS, _block, cli, engine_for, with_sidecar
from giru.manifests.config import Config
from giru.policy import Call, Decision, PolicyEngine, inputs
from giru.policy.bundle import PolicySources
from giru.policy.findings import argument_findings

__all__ = ["main"]

Block = Callable[[int], Awaitable[object]]
SIDES: Final = (
    "sidecar, rego detects",
    "sidecar, findings given",
    "wasm, rego detects",
    "wasm, findings given",
    "wasm, findings given again",
    "wasm, regex safe_label",
)
_LABEL: Final = """safe_label(s) := s if {
	is_string(s)
	trim(s, _label_characters) == ""
	count(s) >= 1
	count(s) <= 64
	count(s) - count(strings.replace_n(_no_digits, s)) <= 6
}"""
_REGEX_LABEL: Final = """safe_label(s) := s if {
	is_string(s)
	regex.match(`^[A-Za-z0-9_.:/-]{1,64}$`, s)
	count(regex.find_n(`[0-9]`, s, -1)) <= 6
}"""
"""call.safe_label before 9bcbfee (regex.match, which OPA's Wasm compiles on every call)."""


def _undetected(arguments: Any) -> None:
    """No findings: the input has none, `pii.argument_findings` detects in Rego, as before."""
    return None


def _rego_detects(block: Block) -> Block:
    """`block`, its calls' inputs built without Giru's findings (as in the work tree, the field
    left out as for arguments Giru does not scan)."""

    async def detecting(count: int) -> object:
        with patch.object(inputs, "argument_findings", _undetected):
            return await block(count)

    return detecting


def _engine(name: str, url: str, config: Config, opa: Path) -> PolicyEngine:
    evaluator = "wasm" if name.startswith("wasm") else "opa"
    edit = _regex_label if "regex safe_label" in name else None
    return engine_for(url, config, opa, evaluator, edit)


def _regex_label(sources: PolicySources) -> PolicySources:
    """The shipped packs with `call.safe_label` as it was before 9bcbfee (a regex.match)."""
    modules = dict(sources.modules)
    path = next(path for path in modules if path.endswith("lib/call.rego"))
    assert _LABEL in modules[path], "call.safe_label is not the one this bench knows"
    modules[path] = modules[path].replace(_LABEL, _REGEX_LABEL)
    return dataclasses.replace(sources, modules=modules)


def _seen(decision: Decision) -> bytes:
    """What a decision says, but its revision and the findings its audit record keeps (the
    only field the sides' inputs differ in)."""
    fields = dataclasses.asdict(decision)
    fields.pop("revision")
    fields["recorded"]["mcp"].pop("argument_findings", None)
    return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)


def _findings_us(call: Call, count: int = 20_000) -> float:
    """CPU µs of `argument_findings` on the call's arguments (this thread, best of 5)."""
    timer = timeit.Timer(lambda: argument_findings(call.arguments), timer=time.thread_time_ns)
    return min(timer.repeat(5, count)) / count / 1000


async def _measure(engines: dict[str, PolicyEngine], opa_pid: int, rounds: int, calls: int) -> Any:
    for label in LABELS:
        template = INPUTS[label]
        seen = {}
        for name, engine in engines.items():
            found = _undetected if "rego detects" in name else argument_findings
            with patch.object(inputs, "argument_findings", found):
                seen[name] = _seen(await engine.decide(template))
        if len(set(seen.values())) != 1:
            raise RuntimeError(f"the sides decide {label} differently: {seen}")

    def cpu() -> int:
        return process_cpu_ns(os.getpid()) + process_cpu_ns(opa_pid)

    versus = [
        ("sidecar, findings given", "sidecar, rego detects"),
        ("wasm, findings given", "wasm, rego detects"),
        ("wasm, findings given again", "wasm, findings given"),
        ("wasm, findings given", "wasm, regex safe_label"),
    ]
    results = {}
    for label in LABELS:
        print(f"  argument_findings alone: {_findings_us(INPUTS[label]):.2f} µs", flush=True)
        blocks = {name: _block(engines[name], INPUTS[label]) for name in SIDES}
        sides = [
            Side(name, _rego_detects(block) if "rego detects" in name else block, cpu)
            for name, block in blocks.items()
        ]
        for side in sides:
            await side.block(calls)  # warm: connections, the fast path's first answer
        gc.freeze()
        results[label] = await alternate(sides, calls=calls, rounds=rounds, versus=versus)
        print(f"  {label}:\n{describe(results[label])}", flush=True)
    return results


async def run(rounds: int, calls: int) -> Any:
    def engines(url: str, config: Config, opa: Path) -> dict[str, PolicyEngine]:
        return {name: _engine(name, url, config, opa) for name in SIDES}

    return await with_sidecar("findings", engines, SIDES[1], rounds, calls, _measure)


def main() -> None:
    cli("python -m bench.policy_findings", __doc__, run)


if __name__ == "__main__":
    main()
