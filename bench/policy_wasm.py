"""`python -m bench.policy_wasm [--rounds R] [--calls N]`: the CPU of one policy decision decided
in process (the bundle compiled to WebAssembly, giru.policy.wasm) beside the OPA sidecar Giru
asks today, for the calls whose arguments need checking.

bench.policy's bundle and configuration (packs core, pci_dss, hipaa, soc2) and its PCI and PHI
inputs (plus the small call the fast path answers), each decided through `PolicyEngine.decide`
on uvloop at concurrency 16 by three engines: "sidecar" (a real `opa run --server` on a unix
socket, Giru's OpaClient, the fast path on: what runs today), "wasm" and "wasm again" (the
A/A pair: what the method resolves). Before timing, both paths must decide every input alike.
Each round times every side once, in a shuffled order (bench.pairs.alternate); the CPU is this
process's plus the OPA process's (kernel CPU clocks), so the sidecar pays for both ends of its
socket and the in-process side for its epoch ticker thread. The difference is the median of the
per-round differences with a bootstrap 95 % interval. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import orjson
import uvloop

from bench.pairs import Side, alternate, describe, process_cpu_ns
from bench.policy import INPUTS, load_config, start_opa, wait_ready
from giru.manifests.config import Config
from giru.policy import Call, Decision, PolicyEngine, find_opa
from giru.policy.bundle import PolicySources, read_sources, shipped_policies

__all__ = ["main"]

CONCURRENCY: Final = 16
LABELS: Final = (
    "PCI, 16-digit PAN",
    "PCI, amount and order (no PAN)",
    "PHI (hipaa)",
    "small tools/call",
)


def engine_for(
    url: str,
    config: Config,
    opa: Path,
    evaluator: str,
    edit: Callable[[PolicySources], PolicySources] | None = None,
) -> PolicyEngine:
    """An engine deciding with the shipped packs (`edit`ed when given) by `evaluator`."""
    shipped = shipped_policies()
    assert shipped is not None
    engine = PolicyEngine(
        [shipped],
        opa_url=url,
        opa_binary=opa,
        bundle_url="http://127.0.0.1:9/unused",
        timeout_s=10.0,  # a slow answer is measured, not turned into a denial
        evaluator="wasm" if evaluator == "wasm" else "opa",
    )
    sources = read_sources(engine.directories)
    engine.sources = sources if edit is None else edit(sources)
    engine.reload(config)
    return engine


def _seen(decision: Decision) -> bytes:
    """What a decision says (its revision aside: the sidecar engine runs no readiness monitor)."""
    fields = dataclasses.asdict(decision)
    fields.pop("revision")
    return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)


def _block(engine: PolicyEngine, template: Call) -> Callable[[int], Awaitable[object]]:
    async def block(count: int) -> None:
        now = time.time_ns()
        calls = [
            dataclasses.replace(template, request_id=f"bench-{i:08d}", time_ns=now + i)
            for i in range(count)
        ]

        async def worker(offset: int) -> None:
            for index in range(offset, count, CONCURRENCY):
                decision = await engine.decide(calls[index])
                if decision.unavailable is not None:
                    raise RuntimeError(f"no decision: {decision.unavailable}")

        async with asyncio.TaskGroup() as tasks:
            for offset in range(CONCURRENCY):
                tasks.create_task(worker(offset))

    return block


async def _measure(engines: dict[str, PolicyEngine], opa_pid: int, rounds: int, calls: int) -> Any:
    for label in LABELS:
        template = INPUTS[label]
        seen = {name: _seen(await engine.decide(template)) for name, engine in engines.items()}
        if len(set(seen.values())) != 1:
            raise RuntimeError(f"the paths decide {label} differently: {seen}")

    def cpu() -> int:
        return process_cpu_ns(os.getpid()) + process_cpu_ns(opa_pid)

    results = {}
    for label in LABELS:
        sides = [Side(name, _block(e, INPUTS[label]), cpu) for name, e in engines.items()]
        for side in sides:
            await side.block(calls)  # warm: connections, the fast path's first answer
        gc.freeze()
        results[label] = await alternate(
            sides, calls=calls, rounds=rounds, versus=[("wasm again", "wasm")]
        )
        print(f"  {label}:\n{describe(results[label])}", flush=True)
    return results


async def run(rounds: int, calls: int) -> Any:
    def engines(url: str, config: Config, opa: Path) -> dict[str, PolicyEngine]:
        made = {name: engine_for(url, config, opa, name) for name in ("sidecar", "wasm")}
        return {**made, "wasm again": engine_for(url, config, opa, "wasm")}

    return await with_sidecar("wasm", engines, "sidecar", rounds, calls, _measure)


async def with_sidecar(
    name: str,
    make: Callable[[str, Config, Path], dict[str, PolicyEngine]],
    sidecar: str,
    rounds: int,
    calls: int,
    measure: Callable[[dict[str, PolicyEngine], int, int, int], Awaitable[Any]],
) -> Any:
    """`measure(engines, OPA's pid, rounds, calls)` in a temp dir, the engines `make(OPA's url,
    bench.policy's configuration, the opa binary)` built (Wasm ones too) and one OPA serving
    the bundle of `engines[sidecar]`; every engine closed and OPA stopped afterwards."""
    gc.set_threshold(20_000, 50, 1_000)  # as giru.app sets it
    with tempfile.TemporaryDirectory(prefix=f"giru-bench-policy-{name}-") as directory:
        workdir = Path(directory)
        url = f"unix://{workdir / 'opa.sock'}"
        engines = make(url, load_config(workdir), find_opa())
        for engine in engines.values():
            if engine.wasm is not None:
                assert engine.bundle is not None
                await engine.wasm.build(engine.bundle)
        first = engines[sidecar]
        assert first.bundle is not None
        bundle = workdir / "bundle.tar.gz"
        bundle.write_bytes(first.bundle.archive)
        proc = start_opa(find_opa(), bundle, url, workdir, "opa")
        try:
            await wait_ready(first, proc)
            return await measure(engines, proc.pid, rounds, calls)
        finally:
            for engine in engines.values():
                await engine.aclose()
            proc.stop()


def cli(prog: str, doc: str | None, run: Callable[[int, int], Awaitable[Any]]) -> None:
    """The command line of a paired policy bench: --rounds, --calls; the load around the run."""
    parser = argparse.ArgumentParser(prog=prog, description=doc)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=400, help="decisions per side per round")
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()}")
    uvloop.run(run(args.rounds, args.calls))
    print(f"load after: {os.getloadavg()}")


def main() -> None:
    cli("python -m bench.policy_wasm", __doc__, run)


if __name__ == "__main__":
    main()
