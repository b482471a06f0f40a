"""`python -m bench.visibility_ab --ref REV [--rounds N] [--out DIR]`: the first tools/list of
1,000 tools after a change, REV's Giru beside the work tree's, in alternating rounds of one run.

Each round runs `python -m bench.visibility --focus` (1,000 tools: 30 lists, each right after a
change of each kind, at concurrency 1; 10 rounds of 64 concurrent lists right after a bundle
change) once per side, in an order shuffled per round (seeded), each side in a process of its
own with an OPA of its own: REV (its `src` and `policies` from `git archive`, imported through
PYTHONPATH, with the work tree's bench and .venv), the work tree, and the work tree again (an
A/A pair: how far two runs of the same code differ at this load). A side's figure is the median
over rounds of that round's p50 (and of its Giru CPU µs per list, the change itself left out);
the load average is written before and after. Printed and
written as JSON to `<out>/<date>-visibility-ab.json`, never asserted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from bench.fleet import REPO
from bench.visibility import BUNDLE, CATALOG, CONFIG, CONFIG_OTHER, MODES, list_point

__all__ = ["main"]

TREE, AGAIN = "work tree", "work tree again"


def _side(env: dict[str, str], out: Path) -> list[dict[str, Any]]:
    argv = [sys.executable, "-m", "bench.visibility", "--focus", str(out)]
    subprocess.run(argv, cwd=REPO, env={**os.environ, **env}, check=True, capture_output=True)
    points: list[dict[str, Any]] = json.loads(out.read_text())
    return points


def _figures(points: list[dict[str, Any]]) -> dict[str, float | str]:
    found: dict[str, float | str] = {}
    for change in (BUNDLE, CONFIG, CONFIG_OTHER, CATALOG):
        point = list_point(points, 1000, 1, False, change)
        found[change] = round(point["p50_us"] / 1000, 2) if point else "-"
        found[f"{change}_giru_cpu_us"] = point["giru_cpu_us_per_list"] if point else "-"
    crowd = list_point(points, 1000, 64, False)
    found["c64"] = f"{crowd['over_250ms']} of {crowd['lists']} / {crowd['unavailable']}"
    found["c64_p50"] = round(crowd["p50_us"] / 1000, 2)
    return found


def run(ref: str, rounds: int, seed: int = 0) -> dict[str, Any]:
    load_before = os.getloadavg()
    figures: dict[str, list[dict[str, float | str]]] = {ref: [], TREE: [], AGAIN: []}
    with tempfile.TemporaryDirectory(prefix="giru-bench-visibility-ab-") as directory:
        workdir = Path(directory)
        argv = ["git", "archive", "--format=tar", ref, "src", "policies"]
        archive = subprocess.run(argv, cwd=REPO, check=True, capture_output=True).stdout
        (workdir / "ref.tar").write_bytes(archive)
        with tarfile.open(workdir / "ref.tar") as tar:
            tar.extractall(workdir / "ref", filter="data")
        (workdir / "ref" / ".tools").symlink_to(REPO / ".tools")  # REV finds the same OPA
        envs = {ref: {"PYTHONPATH": str(workdir / "ref" / "src")}, TREE: {}, AGAIN: {}}
        order = random.Random(seed)
        for round_ in range(rounds):
            sides = list(envs)
            order.shuffle(sides)
            for side in sides:
                points = _side(envs[side], workdir / f"{round_}-{len(figures[side])}.json")
                figures[side].append(_figures(points))
                print(f"  round {round_} {side:<16} {figures[side][-1]}", flush=True)
    summary = {side: _median(found) for side, found in figures.items()}
    return {
        "ref": ref,
        "rounds": rounds,
        "modes": {change: MODES[change] for change in (BUNDLE, CONFIG, CONFIG_OTHER, CATALOG)},
        "median_p50_ms": summary,
        "per_round": figures,
        "load": {"before": load_before, "after": os.getloadavg()},
    }


def _median(found: list[dict[str, float | str]]) -> dict[str, float | list[str]]:
    out: dict[str, float | list[str]] = {}
    for key in found[0]:
        values = [f[key] for f in found]
        numbers = [v for v in values if isinstance(v, float | int)]
        out[key] = round(statistics.median(numbers), 2) if numbers else [str(v) for v in values]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.visibility_ab", description=__doc__)
    parser.add_argument("--ref", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "visibility")
    args = parser.parse_args(argv)
    result = run(args.ref, args.rounds)
    for side, found in result["median_p50_ms"].items():
        print(f"{side:<16} median of round p50s (ms): {found}")
    print("load average before / after:", result["load"]["before"], result["load"]["after"])
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    path = args.out / f"{stamp}-visibility-ab.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
