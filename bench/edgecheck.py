"""`python -m bench.edgecheck [--calls N] [--rounds R] [--concurrency C]`: what checking
credentials at the edge costs per tools/call, in CPU µs of Giru + Envoy (issue 15: ≤ 100 µs over
Envoy without any check).

One upstream and one `giru run` (worker `w1`, policy off, an API key of the current format)
reached four ways: **direct**; through an Envoy with **no edge check** (`edge_check: off`);
through an Envoy with the edge's **own check** (`edge_check: keys`, a Lua filter fed over RDS);
through an Envoy asking the worker's **ext_authz** per request; and through a second Envoy
without a check, configured like the first (the A/A pair). Each Envoy gets its config over
xDS from a giru of its own (the ext_authz one from the worker itself, the others from standby
girus, stopped while anything is measured). The sides answer 2026-07-28 tools/calls in paired
rounds (bench.pairs: a short block per side per round, shuffled; per-round differences from the
baseline, their median and its 95 % bootstrap interval), each side's CPU read from the process
CPU clocks of the worker and of that side's Envoy, and Envoy's alone. The baseline is Envoy
without a check. Printed, written as JSON and Markdown under
bench/results/envoy/, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import signal
import statistics
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from bench.client import Caller
from bench.edge import WORKER, EdgePorts, start_envoy, xds_env
from bench.fleet import GATEWAY_CPUS
from bench.machine import describe as describe_machine
from bench.pairs import Side, alternate, describe, median_ci, process_cpu_ns
from bench.procs import Proc, free_port
from bench.solo import client_manifest, start_giru, start_upstream

KEY: Final = "giru_benchedgeck_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
"""An API key of the current format (`giru_<11-character id>_<43-character secret>`), so the
edge checks its identifier."""
OUT: Final = Path(__file__).parent / "results" / "envoy"
BASELINE: Final = "envoy-nocheck"
AGAIN: Final = "envoy-nocheck-again"
SIDES: Final = ("direct", "envoy-check", "envoy-ext_authz", AGAIN)


@contextlib.contextmanager
def _stopped(procs: list[Proc]) -> Iterator[None]:
    """The standby control planes stopped (SIGSTOP) while anything is measured."""
    for proc in procs:
        os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)


def _cpu(*pids: int) -> int:
    return sum(process_cpu_ns(pid) for pid in pids)


async def measure(calls: int, rounds: int, concurrency: int, workdir: Path) -> dict[str, Any]:
    key = KEY
    procs: list[Proc] = []
    try:
        upstream, upstream_url = start_upstream(workdir)
        procs.append(upstream)
        manifests = client_manifest(upstream_url)
        authz = EdgePorts.free(authz=True)
        port = free_port()
        worker_env = {
            "GIRU_BENCH_KEY": key,
            "GIRU_WORKER_NAME": WORKER,
            **xds_env(authz, port, workdir),
        }
        giru, direct = start_giru(workdir, "giru", manifests, worker_env, port=port)
        procs.append(giru)
        urls = {"direct": direct}
        envoys: dict[str, int] = {}
        edge = start_envoy("envoy-ext_authz", authz, workdir, GATEWAY_CPUS)
        procs.append(edge.proc)
        urls["envoy-ext_authz"], envoys["envoy-ext_authz"] = f"{edge.url}/mcp", edge.proc.pid
        standby = []
        for name, check in ((BASELINE, "off"), (AGAIN, "off"), ("envoy-check", "keys")):
            ports = EdgePorts.free(authz=False)
            env = {"GIRU_BENCH_KEY": key, **xds_env(ports, port, workdir, edge_check=check)}
            control, _ = start_giru(workdir, f"xds-{name}", manifests, env)
            procs.append(control)
            standby.append(control)
            envoy = start_envoy(name, ports, workdir, GATEWAY_CPUS)
            procs.append(envoy.proc)
            urls[name], envoys[name] = f"{envoy.url}/mcp", envoy.proc.pid
        with _stopped(standby):
            return await _rounds(urls, envoys, giru.pid, key, calls, rounds, concurrency)
    finally:
        for proc in reversed(procs):
            proc.stop()


async def _rounds(
    urls: dict[str, str],
    envoys: dict[str, int],
    worker: int,
    key: str,
    calls: int,
    rounds: int,
    concurrency: int,
) -> dict[str, Any]:
    order = [BASELINE, *SIDES]
    envoy_only: dict[str, list[float]] = {name: [] for name in envoys}
    async with contextlib.AsyncExitStack() as stack:
        callers = {
            name: await stack.enter_async_context(Caller(urls[name], key, concurrency))
            for name in order
        }
        for caller in callers.values():  # warm up
            await caller.calls(max(200, 20 * concurrency))
        sides = [
            Side(
                name,
                functools.partial(_block, callers[name], envoys.get(name), envoy_only.get(name)),
                functools.partial(_cpu, worker, *([envoys[name]] if name in envoys else [])),
            )
            for name in order
        ]
        versus = [
            ("envoy-check", AGAIN),
            ("envoy-check", "direct"),
            ("envoy-ext_authz", "envoy-check"),
        ]
        result = await alternate(sides, calls=calls, rounds=rounds, versus=versus)
    result["envoy_only"] = _envoy_only(envoy_only)
    return result


async def _block(caller: Caller, envoy: int | None, out: list[float] | None, calls: int) -> None:
    """`calls` calls; when `envoy` is given, its CPU µs per call in the block appended to `out`."""
    before = process_cpu_ns(envoy) if envoy is not None else 0
    await caller.calls(calls)
    if envoy is not None and out is not None:
        out.append((process_cpu_ns(envoy) - before) / calls / 1000)


def _envoy_only(per_call: dict[str, list[float]]) -> dict[str, Any]:
    """Envoy's CPU alone, each side minus the baseline's in the same round (the worker does the
    same work behind every Envoy, and its CPU is most of the noise)."""
    base = per_call[BASELINE]
    out: dict[str, Any] = {BASELINE: {"cpu_us_per_call": round(statistics.median(base), 2)}}
    for name, values in per_call.items():
        if name == BASELINE:
            continue
        differences = [v - b for v, b in zip(values, base, strict=True)]
        low, high = median_ci(differences)
        out[name] = {
            "cpu_us_per_call": round(statistics.median(values), 2),
            "added_cpu_us_per_call": round(statistics.median(differences), 2),
            "added_ci95": [round(low, 2), round(high, 2)],
        }
    return out


def markdown(result: dict[str, Any], machine: dict[str, Any], command: str) -> str:
    sides = result["sides"]
    load = ", ".join(f"{v:.2f}" for v in result["loadavg_before"])
    after = ", ".join(f"{v:.2f}" for v in result["loadavg_after"])
    lines = [
        f"# The edge's credential check: CPU per tools/call — {time.strftime('%Y-%m-%d')}",
        "",
        f"`{command}` — {result['rounds']} paired rounds x {result['calls_per_block']} calls, "
        f"{result['seconds']} s; load average (1, 5, 15 min) {load} → {after}; "
        f"{machine.get('cpu_model', '?')}, {machine.get('cores', '?')} cores.",
        "",
        "CPU = the giru worker's process + that side's Envoy (none for direct). **added** = "
        f"the side minus `{BASELINE}` (Envoy without any edge check) in the same round: the "
        f"median over rounds and its 95 % bootstrap interval. `{AGAIN}` is a second Envoy "
        "configured exactly like the baseline (A/A: what the method reads when nothing differs).",
        "",
        "| side | CPU µs/call (median) | added vs Envoy without a check | 95 % CI |",
        "|---|---:|---:|---|",
    ]
    lines += [_row(name, side) for name, side in sides.items()]
    lines += [
        "",
        "Envoy's CPU alone (the worker does the same work behind each Envoy, and its CPU is "
        "most of the noise above), each side minus `envoy-nocheck` in the same round:",
        "",
        "| side | Envoy CPU µs/call (median) | added | 95 % CI |",
        "|---|---:|---:|---|",
    ]
    lines += [_row(name, side) for name, side in result["envoy_only"].items()]
    lines += ["", "Other paired differences (Giru + Envoy), same rounds:", ""]
    for name, difference in result["differences"].items():
        low, high = difference["added_ci95"]
        lines.append(
            f"- {name}: {difference['added_cpu_us_per_call']:+,.1f} µs (95 % CI {low:+,.1f} … "
            f"{high:+,.1f})"
        )
    return "\n".join(lines) + "\n"


def _row(name: str, side: Mapping[str, Any]) -> str:
    """A table row: the side's CPU per call, what it adds and that figure's interval."""
    added, ci = side.get("added_cpu_us_per_call"), side.get("added_ci95")
    return (
        f"| {name} | {side['cpu_us_per_call']:,.1f} | "
        + ("-" if added is None else f"{added:+,.1f}")
        + " | "
        + ("-" if ci is None else f"{ci[0]:+,.1f} … {ci[1]:+,.1f}")
        + " |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.edgecheck", description=__doc__)
    parser.add_argument("--calls", type=int, default=400, help="calls per side per round")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="giru-edgecheck-") as tmp:
        result = asyncio.run(measure(args.calls, args.rounds, args.concurrency, Path(tmp)))
    command = (
        f"python -m bench.edgecheck --calls {args.calls} --rounds {args.rounds} "
        f"--concurrency {args.concurrency}"
    )
    machine = describe_machine(None)
    print(describe(result))
    for name, side in result["envoy_only"].items():
        print(f"    envoy only {name}: {side}")
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d")
    document = {"command": command, "machine": machine, **result}
    (args.out / f"{stamp}-edge-check.json").write_text(json.dumps(document, indent=1) + "\n")
    (args.out / "edge-check.md").write_text(markdown(result, machine, command))


if __name__ == "__main__":
    main()
