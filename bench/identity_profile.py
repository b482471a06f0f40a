"""`python -m bench.identity_profile [--calls N] [--windows W] [--out DIR]`: where an OAuth
tools/call spends the CPU an API-key call does not (bench.identity measures how much).

The same gateway as bench.identity (policy off, SQLite on tmpfs, an IdP in direct mode, the
Clients `bench` and `bench-subscribed`, the people of group `bench` subscribed to s00), started
through bench.profiled: windows of `calls` tools/calls at 16 connections, one credential per
window, in a shuffled order, each under a fresh cProfile of the event-loop thread. Per
credential, every function's calls and own time per tools/call are summed over its windows;
the report lists what the OAuth call runs that the API-key calls do not (calls per tools/call
differing) and the largest own-time differences. Beside it, without the profiler, each
thread's CPU (/proc/<pid>/task/<tid>/schedstat, ns) per tools/call, per credential, in paired
rounds, says how much of the difference is on the loop thread and how much on worker threads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import random
import signal
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Final

import uvloop

from bench.client import Caller
from bench.fleet import LOAD_CPUS, REPO
from bench.identity import _SUBSCRIBED_KEY, _manifests
from bench.issuer import Issuer
from bench.pairs import median_ci
from bench.procs import Proc
from bench.solo import KEY, start_giru, start_upstream

__all__ = ["main"]

_KINDS: Final = ("api key", "subscribed key", "oauth")
Row = dict[str, float]
Diff = dict[str, Any]


def _start_profiled(
    workdir: Path, name: str, manifests: str, env: dict[str, str]
) -> tuple[Proc, str, Path]:
    """`bench.solo.start_giru` run under `bench.profiled`; the folder it writes profiles to."""
    prof = workdir / f"{name}-prof"
    prof.mkdir()
    profiled = {**env, "GIRU_BENCH_PROFILE_DIR": str(prof)}
    command = (sys.executable, "-m", "bench.profiled")
    giru, url = start_giru(workdir, name, manifests, profiled, command=command)
    return giru, url, prof


def _label(key: tuple[str, int, str]) -> str:
    path, line, func = key
    for marker in ("site-packages/", "/src/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{line}:{func}" if path != "~" else func


class _Window:
    """One credential's block of calls on the profiled gateway: its cProfile stats (when on),
    the GC's collections and seconds per generation, and the CPU ns of the loop thread and of
    the others."""

    def __init__(self, giru: Proc, prof: Path, profiled: bool) -> None:
        self.profiled = profiled
        self._giru = giru
        self._prof = prof
        self._written = 0

    async def run(self, caller: Caller, calls: int) -> dict[str, Any]:
        pid = self._giru.pid
        before = _thread_ns(pid)
        os.kill(pid, signal.SIGUSR1)
        await caller.calls(calls)
        os.kill(pid, signal.SIGUSR2)
        after = _thread_ns(pid)
        self._written += 1
        target = self._prof / f"{self._written}.prof"
        deadline = time.monotonic() + 30
        while not target.exists():  # the profiled process writes it on its next bytecode
            if time.monotonic() > deadline:
                tail = self._giru.log.read_text()[-3000:]
                raise RuntimeError(f"no profile written at {target}: {tail}")
            await asyncio.sleep(0.02)
        loop = after.get(pid, 0) - before.get(pid, 0)
        others = sum(ns - before.get(tid, 0) for tid, ns in after.items() if tid != pid)
        return {
            "stats": pstats.Stats(str(target)).stats if self.profiled else {},  # type: ignore[attr-defined]
            "gc": json.loads(target.with_suffix(".gc.json").read_text()),
            "loop_us": loop / calls / 1000,
            "threads_us": others / calls / 1000,
        }


def _thread_ns(pid: int) -> dict[int, int]:
    """CPU ns per thread id, from schedstat (threads that exited are not counted)."""
    found: dict[int, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found[int(task.name)] = int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return found


async def _windows(
    window: _Window, callers: dict[str, Caller], calls: int, rounds: int, profiled: bool
) -> dict[str, Any]:
    """Rounds of one window per credential, shuffled; per credential the function rows (when
    profiled) summed per tools/call, and per round the loop, thread and GC figures."""
    totals: dict[str, dict[str, Row]] = {k: defaultdict(lambda: defaultdict(float)) for k in _KINDS}
    per: dict[str, dict[str, list[float]]] = {k: defaultdict(list) for k in _KINDS}
    rng = random.Random(13)
    load_before = os.getloadavg()
    for _ in range(rounds):
        order = list(_KINDS)
        rng.shuffle(order)
        for kind in order:
            seen = await window.run(callers[kind], calls)
            per[kind]["loop_us"].append(seen["loop_us"])
            per[kind]["threads_us"].append(seen["threads_us"])
            figures = seen["gc"]
            per[kind]["admission_us"].append(figures["admission_ns"] / 1000 / figures["admissions"])
            for generation, (count, seconds) in enumerate(figures["gc"]):
                per[kind][f"gc{generation}_per_1000_calls"].append(count / calls * 1000)
                per[kind][f"gc{generation}_us"].append(seconds * 1e6 / calls)
            if not profiled:
                continue
            for key, (_cc, nc, tt, ct, _callers) in seen["stats"].items():
                row = totals[kind][_label(key)]
                row["calls"] += nc / calls / rounds
                row["own_us"] += tt * 1e6 / calls / rounds
                row["cum_us"] += ct * 1e6 / calls / rounds
    paired: dict[str, Any] = {}
    for measure in per["oauth"]:
        entry: dict[str, Any] = {k: round(statistics.median(per[k][measure]), 3) for k in _KINDS}
        for base in ("api key", "subscribed key"):
            diffs = [o - b for o, b in zip(per["oauth"][measure], per[base][measure], strict=True)]
            low, high = median_ci(diffs)
            entry[f"oauth - {base}"] = {
                "median": round(statistics.median(diffs), 3),
                "ci95": [round(low, 3), round(high, 3)],
                "mean": round(statistics.fmean(diffs), 3),
            }
        paired[measure] = entry
    return {
        "rounds": rounds,
        "calls_per_block": calls,
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "paired": paired,
        "functions": totals if profiled else None,
    }


def _differences(totals: dict[str, dict[str, Row]], base: str, top: int) -> list[dict[str, Any]]:
    oauth, other = totals["oauth"], totals[base]
    rows: list[dict[str, Any]] = []
    for name in set(oauth) | set(other):
        o, b = oauth.get(name, {}), other.get(name, {})
        rows.append(
            {
                "function": name,
                "calls_oauth": round(o.get("calls", 0.0), 2),
                "calls_base": round(b.get("calls", 0.0), 2),
                "own_us_delta": round(o.get("own_us", 0.0) - b.get("own_us", 0.0), 2),
                "cum_us_oauth": round(o.get("cum_us", 0.0), 2),
                "cum_us_base": round(b.get("cum_us", 0.0), 2),
            }
        )
    extra = [r for r in rows if abs(r["calls_oauth"] - r["calls_base"]) >= 0.5]
    extra.sort(key=lambda r: -abs(r["cum_us_oauth"] - r["cum_us_base"]))
    heavy = sorted(rows, key=lambda r: -abs(r["own_us_delta"]))[:top]
    return [{"calls_differ": extra[: top * 2], "own_time_differs": heavy}]


async def _run(
    giru: Proc, prof: Path, url: str, token: str, args: argparse.Namespace, profiled: bool
) -> dict[str, Any]:
    async with Caller(url, token, 1) as first:
        await first.calls(1)  # the token's one verification (and JWKS fetch), alone
    async with (
        Caller(url, KEY, 16) as key,
        Caller(url, _SUBSCRIBED_KEY, 16) as subscribed,
        Caller(url, token, 16) as oauth,
    ):
        callers = {"api key": key, "subscribed key": subscribed, "oauth": oauth}
        for caller in callers.values():
            await caller.calls(2000)
        rounds = args.windows if profiled else args.rounds
        return await _windows(_Window(giru, prof, profiled), callers, args.calls, rounds, profiled)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.identity_profile", description=__doc__)
    parser.add_argument("--calls", type=int, default=400, help="calls per window")
    parser.add_argument("--windows", type=int, default=10, help="profiled windows per credential")
    parser.add_argument("--rounds", type=int, default=100, help="paired rounds, no profiler")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "identity")
    parser.add_argument("--skip-profile", action="store_true")
    args = parser.parse_args(argv)
    shm = Path("/dev/shm")
    result: dict[str, Any] = {"loadavg_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="giru-bench-idprof-", dir=shm) as directory:
        workdir = Path(directory)
        os.sched_setaffinity(0, LOAD_CPUS)
        with Issuer().serving() as issuer:
            upstream, upstream_url = start_upstream(workdir)
            try:
                manifests = _manifests(upstream_url, issuer.url)
                for profiled in (False, True) if not args.skip_profile else (False,):
                    name = "cprofile" if profiled else "plain"
                    env = {"GIRU_BENCH_CPROFILE": "1" if profiled else "0"}
                    giru, url, prof = _start_profiled(workdir, name, manifests, env)
                    try:
                        token = issuer.token(url)
                        found = uvloop.run(_run(giru, prof, url, token, args, profiled))
                    finally:
                        giru.stop()
                    if profiled:
                        totals = found.pop("functions")
                        found["oauth - api key"] = _differences(totals, "api key", 25)
                        found["oauth - subscribed key"] = _differences(totals, "subscribed key", 25)
                    result[name] = found
            finally:
                upstream.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "profile-raw.json"
    target.write_text(json.dumps(result, indent=1, default=str))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
