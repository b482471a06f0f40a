"""`python -m bench.open_loop [--rate RPS] [--calls N] [--rounds R] [--ref REV] [--work REV]`:
what a governed tools/call costs when calls arrive one at a time rather than 16 at a time.

One upstream and one governed `giru run` (as bench.governed_profile: policy on, the client
`bench-governed` with its subscription, usage and audit records; spools on /dev/shm), or two
with `--ref REV` (REV's `src` through PYTHONPATH beside the work tree's, or beside `--work`'s:
a commit or src folder run in the work tree's place). Each process is driven in short blocks
three ways: closed loop at 16 connections (`c16`), closed loop at one (`c1`), and open loop at
`--rate` calls a second (`rate`: each call sent at its time whatever happened before).
bench.pairs.alternate times every (process, drive) side once per round in a shuffled order by
the answering process's CPU clock; figures are medians of per-round differences with 95 %
intervals: each drive against the same process's `c16`, and with `--ref` the work tree against
REV per drive, plus an A/A pair (`c16` measured twice).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import uvloop

from bench.client import Caller
from bench.fleet import _GOVERNED_KEY, LOAD_CPUS, REPO, _governed_manifest
from bench.governed_profile import ref_src
from bench.pairs import Side, alternate, describe, process_cpu_ns
from bench.procs import Proc
from bench.solo import client_manifest, start_giru, start_upstream

__all__ = ["main"]

_ENV: Final = {
    "GIRU_POLICY__ENABLED": "true",
    "GIRU_CATALOG__UNHEALTHY_AFTER": "1000000",
    "GIRU_AUDIT__VERIFY_INTERVAL_S": "0",
}


def _drives(
    callers: dict[str, Caller], rate: float, latencies: list[float]
) -> dict[str, Callable[[int], Awaitable[object]]]:
    async def paced(calls: int) -> None:
        latencies.extend(await callers["rate"].paced(calls, rate))

    return {"c16": callers["c16"].calls, "c1": callers["c1"].calls, "rate": paced}


async def _measure(urls: dict[str, str], pids: dict[str, int], args: argparse.Namespace) -> Any:
    latencies: dict[str, list[float]] = {}
    sides: list[Side] = []
    async with contextlib.AsyncExitStack() as stack:
        for tree, url in urls.items():
            callers = {
                drive: await stack.enter_async_context(Caller(url, _GOVERNED_KEY, connections))
                for drive, connections in (("c16", 16), ("c1", 1), ("rate", 64))
            }
            await callers["c16"].calls(3000)  # warm up: caches, limiter keys, connections
            cpu = functools.partial(process_cpu_ns, pids[tree])
            for drive, block in _drives(callers, args.rate, latencies.setdefault(tree, [])).items():
                await block(200)
                sides.append(Side(f"{tree} {drive}", block, cpu))
            sides.append(Side(f"{tree} c16 again", callers["c16"].calls, cpu))
        versus = [(f"{tree} {drive}", f"{tree} c16") for tree in urls for drive in ("c1", "rate")]
        versus += [(f"{tree} c16 again", f"{tree} c16") for tree in urls]
        if "ref" in urls:
            versus += [(f"work {drive}", f"ref {drive}") for drive in ("c16", "c1", "rate")]
        result = await alternate(sides, calls=args.calls, rounds=args.rounds, versus=versus)
    result["rate"] = args.rate
    result["open_loop_latency_us"] = {
        tree: {p: round(_percentile(values, p), 1) for p in (50, 90, 99)}
        for tree, values in latencies.items()
    }
    return result


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


def _lines(result: dict[str, Any], command: str) -> str:
    differences = [
        f"    {name:<26} {d['added_cpu_us_per_call']:+8.2f} µs "
        f"(95 % CI {d['added_ci95'][0]:+.2f} … {d['added_ci95'][1]:+.2f})"
        for name, d in result["differences"].items()
    ]
    return "\n".join(
        [
            command,
            f"load {result['loadavg_before']} -> {result['loadavg_after']}, "
            f"{result['rounds']} rounds x {result['calls_per_block']} calls, "
            f"{result['seconds']} s; rate {result['rate']:g}/s",
            describe(result),
            "differences (median of per-round differences):",
            *differences,
            f"open-loop latency from the send time, µs: {result['open_loop_latency_us']}",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.open_loop", description=__doc__)
    parser.add_argument("--rate", type=float, default=400.0, help="open loop: calls a second")
    parser.add_argument("--calls", type=int, default=800, help="calls per block")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument(
        "--ref", help="also a giru of this commit's src (or of this src folder): the baseline tree"
    )
    parser.add_argument("--work", help="run this commit's src (or src folder) as the work tree")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "profile")
    args = parser.parse_args(argv)
    command = "python -m bench.open_loop " + " ".join(argv or sys.argv[1:])
    os.sched_setaffinity(0, LOAD_CPUS)  # the client beside the upstream, off the gateway's core
    with tempfile.TemporaryDirectory(prefix="giru-open-loop-", dir="/dev/shm") as directory:
        workdir = Path(directory)
        upstream, upstream_url = start_upstream(workdir)
        gateways: dict[str, Proc] = {}
        urls: dict[str, str] = {}
        try:
            manifests = client_manifest(upstream_url) + "---\n" + _governed_manifest()
            trees = {"work": dict(_ENV)}
            if args.work:
                trees["work"]["PYTHONPATH"] = str(ref_src(args.work, workdir, "work-src"))
            if args.ref:
                trees["ref"] = {**_ENV, "PYTHONPATH": str(ref_src(args.ref, workdir))}
            for tree, env in trees.items():
                gateways[tree], urls[tree] = start_giru(workdir, f"giru-{tree}", manifests, env)
            pids = {tree: proc.pid for tree, proc in gateways.items()}
            result = uvloop.run(_measure(urls, pids, args))
        finally:
            for proc in gateways.values():
                proc.stop()
            upstream.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d-%H%M", time.gmtime())
    (args.out / f"{stamp}-open-loop.json").write_text(json.dumps(result, indent=1) + "\n")
    print(_lines(result, command.strip()))


if __name__ == "__main__":
    main()
