"""`python -m bench.policy_input [--ref REV] [--rounds R] [--calls N]`: the CPU of one policy
decision answered from the fast path's cache (`PolicyEngine.decide` as the gateway calls it:
input document, recorded input, cache lookup and plan, the `Decision`, the metrics), in commit
REV's code (default: main) beside the work tree's, in this one process.

The call is the governed scenario's (bench.fleet: client `bench-governed`, its subscription to
`s00`, `echo` with `{"text": "hello"}`, a request id and time of its own per call) under the
shipped packs (`core`, no `kind: Policy`), decided by a real OPA on a unix socket; OPA is asked
once per engine (the cache's first answer), every timed call is a cache hit. The modules of
`giru.policy` that differ in REV are loaded from `git archive REV` under `ref_giru.policy`
(the rest is the work tree's). Before timing, both codes decide a few calls (this one; a card
number; an e-mail address and an SSN; arguments over the 1 MiB limit; an anonymous caller) and
must return equal decisions with equal recorded inputs. Each round times every side on the
same calls in a shuffled order (CPU time of this thread); the difference is the median of the
per-round differences with a bootstrap 95 % interval (bench.pairs.median_ci); an A/A pair (the
work tree twice) says what the method resolves. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import uvloop

from bench.fleet import REPO, _governed_manifest
from bench.pairs import paired, shuffled
from bench.policy import start_opa, tools_call, wait_ready
from bench.procs import Proc
from bench.refcode import ref_source
from giru.manifests.config import Config
from giru.manifests.loader import load
from giru.policy import Call, PolicyEngine, find_opa
from giru.policy.bundle import read_sources, shipped_policies

__all__ = ["main"]

SERVER: Final = """apiVersion: giru.ai/v1alpha1
kind: MCPServer
metadata: {name: s00}
spec:
  transport: streamable-http
  url: http://127.0.0.1:9/mcp
"""
GOVERNED: Final = dataclasses.replace(
    tools_call("bench-governed", "s00", "echo", {"text": "hello"}),
    subscription="bench-governed-s00",
)
CHECKED: Final = (
    GOVERNED,
    dataclasses.replace(GOVERNED, arguments={"card": "4111 1111 1111 1111", "amount": 12.5}),
    dataclasses.replace(GOVERNED, arguments={"to": "alice@example.com", "ssn": "123-45-6789"}),
    dataclasses.replace(GOVERNED, arguments={"text": "x" * 1_100_000}),
    dataclasses.replace(GOVERNED, client="anonymous", subscription=None, arguments={}),
)
"""Decided by both codes before timing (allowed from the cache; allowed, with findings, and
denied by OPA in full; an anonymous caller): equal decisions and recorded inputs, or no
figures."""
Engine = Any  # a PolicyEngine of either code


def _load_ref(ref: str, workdir: Path) -> ModuleType:
    """REV's `giru.policy.engine`, with REV's copy of every `giru.policy` module that differs
    from the work tree's (imported as `ref_giru.policy.<name>`)."""
    old = ref_source(ref, workdir, "src/giru/policy") / "policy"
    work = REPO / "src" / "giru" / "policy"
    changed = sorted(
        path.stem
        for path in old.glob("*.py")
        if path.stem != "__init__"
        and (not (work / path.name).is_file() or (work / path.name).read_text() != path.read_text())
    )
    if "engine" not in changed:
        changed.append("engine")  # nothing differs: REV's engine is the work tree's, loaded again
    ours = re.compile(r"(?<![\w.])giru\.policy\.(" + "|".join(changed) + r")\b")
    package = workdir / "ref_giru" / "policy"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    for name in changed:
        text = (old / f"{name}.py").read_text()
        (package / f"{name}.py").write_text(ours.sub(r"ref_giru.policy.\1", text))
    sys.path.insert(0, str(workdir))
    print(f"{ref}'s giru.policy modules that differ: {', '.join(changed)}")
    return importlib.import_module("ref_giru.policy.engine")


def _engine(kind: type[Any], url: str, config: Config, opa: Path) -> Engine:
    """An engine of class `kind` on the OPA at `url`, the shipped sources and `config` (no
    watcher, no readiness monitor), as bench.policy.engine_for makes one."""
    shipped = shipped_policies()
    assert shipped is not None
    engine = kind(
        [shipped],
        opa_url=url,
        opa_binary=opa,
        bundle_url="http://127.0.0.1:9/unused",
        timeout_s=10.0,
    )
    engine.sources = read_sources(engine.directories)
    engine.reload(config)
    return engine


def _fields(decision: Any) -> tuple[Any, ...]:
    return tuple(getattr(decision, f.name) for f in dataclasses.fields(decision))


async def _check(engines: dict[str, Engine]) -> None:
    """Every engine decides each call of CHECKED alike (fields, recorded input included)."""
    for call in CHECKED:
        decided = {name: _fields(await e.decide(call)) for name, e in engines.items()}
        first = next(iter(decided.values()))
        if any(fields != first for fields in decided.values()):
            raise RuntimeError(f"the codes decide {call} differently: {decided}")


def _block(engine: Engine, calls: list[Call]) -> Callable[[], Awaitable[None]]:
    decide = engine.decide

    async def block() -> None:
        for call in calls:
            await decide(call)

    return block


async def _time(block: Callable[[], Awaitable[None]], calls: int) -> float:
    started = time.thread_time_ns()
    await block()
    return (time.thread_time_ns() - started) / calls / 1000


async def _rounds(engines: dict[str, Engine], rounds: int, count: int, ref: str) -> dict[str, Any]:
    now = time.time_ns()
    calls = [
        dataclasses.replace(GOVERNED, request_id=f"bench-{i:08d}", time_ns=now + i)
        for i in range(count)
    ]
    await _check(engines)
    sides = {name: _block(engine, calls) for name, engine in engines.items()}
    for block in sides.values():
        await _time(block, count)  # warm up
    hits = {name: engine.decisions.hits for name, engine in engines.items()}
    gc.freeze()  # as giru.runtime does after start-up
    seen: dict[str, list[float]] = {name: [] for name in sides}
    load_before = os.getloadavg()
    for name in shuffled(sides, rounds, seed=7):
        seen[name].append(await _time(sides[name], count))
    load_after = os.getloadavg()
    for name, engine in engines.items():
        if engine.decisions.hits - hits[name] != rounds * count:
            raise RuntimeError(f"{name}: not every timed call was a cache hit")

    def versus(a: str, b: str) -> dict[str, Any]:
        return paired(seen[a], seen[b])

    return {
        "ref": ref,
        "rounds": rounds,
        "calls_per_round": count,
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in load_after],
        "us_per_call": {name: round(statistics.median(v), 2) for name, v in seen.items()},
        "work tree - ref": versus("work tree", ref),
        "work tree again - work tree": versus("work tree again", "work tree"),
    }


async def run(ref: str, rounds: int, calls: int) -> dict[str, Any]:
    gc.set_threshold(20_000, 50, 1_000)  # as giru.app sets it
    with tempfile.TemporaryDirectory(prefix="giru-bench-policy-input-") as directory:
        workdir = Path(directory)
        old = _load_ref(ref, workdir / "ref")
        (workdir / "manifests").mkdir()
        (workdir / "manifests" / "bench.yaml").write_text(SERVER + "---\n" + _governed_manifest())
        config = load(workdir / "manifests")
        opa, url = find_opa(), f"unix://{workdir / 'opa.sock'}"
        engines = {
            ref: _engine(old.PolicyEngine, url, config, opa),
            "work tree": _engine(PolicyEngine, url, config, opa),
            "work tree again": _engine(PolicyEngine, url, config, opa),
        }
        revisions = {engine.bundle.revision for engine in engines.values()}
        if len(revisions) != 1:
            raise RuntimeError(f"the codes built different bundles: {revisions}")
        bundle = workdir / "bundle.tar.gz"
        bundle.write_bytes(engines["work tree"].bundle.archive)
        proc: Proc = start_opa(opa, bundle, url, workdir, "opa")
        try:
            await wait_ready(engines["work tree"], proc)
            return await _rounds(engines, rounds, calls, ref)
        finally:
            for engine in engines.values():
                engine.client.close()
            proc.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.policy_input", description=__doc__)
    parser.add_argument("--ref", default="main")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--calls", type=int, default=2000, help="calls per side per round")
    args = parser.parse_args(argv)
    result = uvloop.run(run(args.ref, args.rounds, args.calls))
    for name, us in result["us_per_call"].items():
        print(f"{name:>16}: {us:8.2f} µs per decision (fast path hit)")
    for key in ("work tree - ref", "work tree again - work tree"):
        entry = result[key]
        low, high = entry["ci95"]
        print(f"{key:>28}: {entry['median']:+8.2f} µs (95 % CI {low:+.2f} … {high:+.2f})")
    print(f"{result['rounds']} rounds x {result['calls_per_round']} calls per side")
    print(f"load {result['loadavg_before']} -> {result['loadavg_after']}")


if __name__ == "__main__":
    main()
