"""`python -m bench.ablation --what SWITCH [--calls N] [--rounds R] [--rate RPS] [--out DIR]`:
what one part of a governed tools/call costs, in Giru process CPU per call, measured by
switching it off and on inside one running gateway (`bench.ablated`; SWITCH is one of
`bench.ablated.SWITCHES`).

Whole-process comparisons (two `giru run` side by side, bench.regression) resolve about
±20-40 µs here: two processes differ in layout, and the machine drifts between them. Inside
one process, windows with the part off and on alternate in a shuffled order, each round one
of each, so a difference of a few µs shows. The setup is bench.governed_profile's: one
upstream, one `giru run` with policy on and the client `bench-governed` (a subscription with
rate limits and quotas, usage and audit records), closed loop at 16 connections or open loop at
`--rate` calls a second. "added" is off minus on: negative is what the part costs. Printed and
written as JSON to `<out>/<date>-ablation-<switch>[-rate<RPS>].json`, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from bench.ablated import SWITCHES
from bench.client import Caller
from bench.fleet import _GOVERNED_KEY, LOAD_CPUS, REPO, _governed_manifest
from bench.governed_profile import _OPEN_LOOP_CONNECTIONS, _block
from bench.machine import describe as describe_machine
from bench.open_loop import _ENV as GOVERNED_ENV
from bench.pairs import paired, said
from bench.solo import client_manifest, start_giru, start_upstream

__all__ = ["main"]


async def _measure(pid: int, url: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(17)
    off = False
    seen: dict[bool, list[float]] = {False: [], True: []}
    connections = _OPEN_LOOP_CONNECTIONS if args.rate else 16
    async with Caller(url, _GOVERNED_KEY, connections) as caller:
        await caller.calls(3000)  # warm up: caches, limiter keys, connections
        load = os.getloadavg()
        for _ in range(args.rounds):
            for side in rng.sample([False, True], 2):
                if side != off:
                    os.kill(pid, signal.SIGRTMIN)
                    off = side
                    await caller.calls(50)  # the switch is taken between two calls
                figures = await _block(caller, pid, args.calls, args.rate, None)
                seen[side].append(figures["process_us"])
        load_after = os.getloadavg()
    return {
        "what": args.what,
        "drive": f"open loop at {args.rate:g} calls/s" if args.rate else "closed loop, c=16",
        "calls_per_window": args.calls,
        "rounds": args.rounds,
        "on_us": round(statistics.median(seen[False]), 1),
        "off_us": round(statistics.median(seen[True]), 1),
        "added": paired(seen[True], seen[False]),
        "load": [round(v, 2) for v in (*load, *load_after)],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ablation", description=__doc__)
    parser.add_argument("--what", required=True, choices=SWITCHES)
    parser.add_argument("--calls", type=int, default=2000, help="calls per window")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--rate", type=float, default=0.0, help="open loop at this many calls/s")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "ablation")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, LOAD_CPUS)  # the client beside the upstream, off the gateway's core
    with tempfile.TemporaryDirectory(prefix="giru-ablation-", dir="/dev/shm") as directory:
        workdir = Path(directory)
        upstream, upstream_url = start_upstream(workdir)
        try:
            env = {**GOVERNED_ENV, "GIRU_BENCH_ABLATE": args.what}
            manifests = client_manifest(upstream_url) + "---\n" + _governed_manifest()
            command = (sys.executable, "-m", "bench.ablated")
            giru, url = start_giru(workdir, "giru", manifests, env, command=command)
            try:
                result = uvloop.run(_measure(giru.pid, url, args))
            finally:
                giru.stop()
        finally:
            upstream.stop()
    result["machine"] = describe_machine(None)
    print(
        f"{result['what']} ({result['drive']}, {args.rounds} x {args.calls} calls): on "
        f"{result['on_us']} µs/call, off {result['off_us']} µs/call, off - on "
        f"{said(result['added'])}; load {result['load']}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    suffix = f"-rate{args.rate:g}" if args.rate else ""
    path = args.out / f"{stamp}-ablation-{args.what}{suffix}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
