"""`python -m bench.startup [--runs N] [--ref REF] [--out DIR]`: how long a `giru` command takes
from start to exit, for the commands that never run the gateway (issue 22: `giru --help` took
3.4 s because every command imported the server side).

Each command runs `--runs` times (after 2 warm-up runs) as a whole process; wall time from a
monotonic clock around the child, CPU from the children's rusage. Measured for the work tree
and, with `--ref`, for that commit's `src/` (git archive) in the same run, alternating, so the
two compare on the same machine state. `python -c pass` is the interpreter's own floor. Writes
`<out>/<date>-cli-startup.json` and `<out>/latest.md` (default bench/results/startup/).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.machine import REPO, describe
from bench.procs import free_port
from bench.report import write_standalone

SCENARIO = "cli-startup"
WARMUP = 2
LAUNCH = "from giru.cli.main import app; app(prog_name='giru')"
COMMANDS: dict[str, tuple[str, ...]] = {
    "giru --help": ("--help",),
    "giru version": ("version",),
    "giru get servers (API, nothing listening)": ("get", "servers"),
    "giru audit list --help": ("audit", "list", "--help"),
    "giru validate examples/quickstart/ (manifest models)": ("validate", "examples/quickstart/"),
}


def _argv(args: Sequence[str]) -> list[str]:
    """`giru ARGS` as the console script runs it (the package from PYTHONPATH when given)."""
    return [sys.executable, "-c", LAUNCH, *args]


def _once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s) of one run of `argv` to its exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(argv, env=env, cwd=REPO, capture_output=True, check=False, timeout=120)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    walls = [wall * 1000 for wall, _ in samples]
    cpus = [cpu * 1000 for _, cpu in samples]
    return {
        "wall_ms_median": statistics.median(walls),
        "wall_ms_min": min(walls),
        "wall_ms_max": max(walls),
        "cpu_ms_median": statistics.median(cpus),
    }


def _trees(ref: str | None, workdir: Path) -> dict[str, Path]:
    """The package sources to measure: the work tree, and `ref`'s when given."""
    trees = {"work tree": REPO / "src"}
    if ref is not None:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", ref, "src"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive.stdout, check=True)
        trees[f"git {ref}"] = workdir / "src"
    return trees


def measure(runs: int, ref: str | None) -> dict[str, Any]:
    """Every command of every tree, `runs` times each, trees alternating run by run."""
    points: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="giru-bench-startup-") as temp:
        trees = _trees(ref, Path(temp))
        environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        base = {
            **environ,
            "PYTHONPYCACHEPREFIX": str(Path(temp) / "pycache"),  # filled by the warm-up runs
            "GIRU_API_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens: refused at once
            "GIRU_TOKEN": "bench",
            "XDG_CONFIG_HOME": temp,
        }
        floor = [_once([sys.executable, "-c", "pass"], base) for _ in range(runs)]
        points.append({"tree": "-", "command": "python -c pass", **_summary(floor)})
        for label, args in COMMANDS.items():
            samples: dict[str, list[tuple[float, float]]] = {tree: [] for tree in trees}
            for index in range(WARMUP + runs):
                for tree, src in trees.items():
                    sample = _once(_argv(args), {**base, "PYTHONPATH": str(src)})
                    if index >= WARMUP:
                        samples[tree].append(sample)
            points += [
                {"tree": tree, "command": label, **_summary(taken)}
                for tree, taken in samples.items()
            ]
    setup = {
        "runs": f"{runs} per command and tree after {WARMUP} warm-up runs, trees alternating",
        "launch": f'`{sys.executable} -c "{LAUNCH}" ARGS` (what the console script runs), '
        "PYTHONPATH the tree's src/",
        "API command": "GIRU_API_URL at a loopback port nothing listens on (refused at once): "
        "start-up, reading the context, one refused connect, the error, exit 1",
        "wall / CPU": "monotonic clock around the child; utime+stime from RUSAGE_CHILDREN",
        "bytecode": "compiled once by the warm-up runs (PYTHONPYCACHEPREFIX in a temp dir), as "
        "on an installed system; `python -c pass` is the interpreter alone",
    }
    return {"points": points, "setup": setup}


def main() -> None:
    parser = argparse.ArgumentParser(description="giru CLI start-up time")
    parser.add_argument("--runs", type=int, default=20, help="runs per command and tree")
    parser.add_argument("--ref", help="also measure this commit's src/ (e.g. main~3)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "startup")
    args = parser.parse_args()
    result = measure(args.runs, args.ref)
    machine = describe(None, None)
    path, summary = write_standalone(args.out, SCENARIO, machine, result, "latest")
    print(summary.read_text(), flush=True)
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
