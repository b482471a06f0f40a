"""`python -m bench.regression --ref REF [--concurrency C] [--calls N] [--rounds R] [--out DIR]`:
whether the work tree's tools/call costs more Giru CPU than commit REF's.

Three `giru run` started alike (bench.solo: policy off, API key, one upstream): REF's package
(`git archive REF src`, through PYTHONPATH, with the work tree's `.venv`), the work tree's, and
the work tree's again (an A/A pair: the method's resolution at this load), compared in paired
rounds (bench.pairs) on their process CPU clocks. Printed and written as JSON, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from bench.fleet import REPO
from bench.machine import describe as describe_machine
from bench.pairs import describe
from bench.solo import client_manifest, compare_processes, start_giru, start_upstream

__all__ = ["main"]


def run(ref: str, calls: int, rounds: int, concurrency: tuple[int, ...]) -> dict[str, Any]:
    shm = Path("/dev/shm")
    with (
        tempfile.TemporaryDirectory(prefix="giru-bench-regression-", dir=shm) as directory,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(directory)
        argv = ["git", "archive", "--format=tar", ref, "src"]
        archive = subprocess.run(argv, cwd=REPO, check=True, capture_output=True).stdout
        (workdir / "ref.tar").write_bytes(archive)
        with tarfile.open(workdir / "ref.tar") as tar:
            tar.extractall(workdir / "ref", filter="data")
        upstream, upstream_url = start_upstream(workdir)
        stack.callback(upstream.stop)
        urls, pids = {}, {}
        for name, env in (
            (ref, {"PYTHONPATH": str(workdir / "ref" / "src")}),
            ("work tree", {}),
            ("work tree again", {}),
        ):
            home = name.replace(" ", "-").replace("/", "-")
            giru, urls[name] = start_giru(workdir, home, client_manifest(upstream_url), env)
            stack.callback(giru.stop)
            pids[name] = giru.pid
        points = []
        for each in concurrency:
            compared = uvloop.run(
                compare_processes(
                    urls,
                    pids,
                    calls=calls,
                    rounds=rounds,
                    concurrency=each,
                    versus=[("work tree again", "work tree")],
                )
            )
            print(f"  c={each}\n{describe(compared)}")
            points.append({"concurrency": each, "where": "giru run, tools/call", **compared})
    return {"ref": ref, "points": points}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.regression", description=__doc__)
    parser.add_argument("--ref", required=True)
    parser.add_argument("--calls", type=int, default=200, help="calls per block")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--concurrency", type=int, action="append", help="default: 16")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "regression")
    args = parser.parse_args(argv)
    machine = describe_machine(None)
    result = run(args.ref, args.calls, args.rounds, tuple(args.concurrency or (16,)))
    result["machine"] = machine
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    path = args.out / f"{stamp}-regression-{args.ref[:12]}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
