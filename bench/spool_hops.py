"""`python -m bench.spool_hops [--ref REV] [--rounds R] [--calls N]`: the CPU of making one
governed call's records durable (a usage record and an audit record appended to their spools and
fdatasync'd, as `CallGate` does: both at once, `asyncio.gather`) at concurrency 16, in commit
REV's spool code (default: main) beside the work tree's, in this one process.

REV's `giru/metering/spool.py` is loaded from `git archive REV` under another module name (what it
imports from giru is the work tree's: the frames, records and segments modules must not differ,
which is checked). The sides: REV's spools (`asyncio.to_thread` per commit); the work tree's (each
spool's `Committer` thread), twice (an A/A pair). Each side has its own spool directories under
`--dir` (default /dev/shm, where the gateway benches keep their spools: `fdatasync` costs next to
nothing there, so group commits are smallest; a directory on a disk makes them bigger). A round runs
every side once in a shuffled order, `calls` calls by 16 concurrent callers, each call first busy on
the event loop for `--work-us` of CPU (the rest of a governed call) and its caller then sleeping up
to `--pause-us` (spreads the calls as a gateway's arrive; 0: back to back, the biggest group
commits). The CPU per call printed includes that work; the differences cancel it. Between blocks
(not timed) the spools are sealed, read and acked as the drains do. The clock is this process's CPU
time (the worker threads included); the difference is the median of the per-round differences with a
bootstrap 95 % interval (bench.pairs.paired). The process is pinned to the gateway's core
(bench.fleet.GATEWAY_CPUS) as `giru run` is in the benches. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Final, cast

import uvloop

from bench.audit_insert import governed_records
from bench.drains import _USAGE
from bench.fleet import GATEWAY_CPUS, REPO
from bench.pairs import paired, said, shuffled
from bench.refcode import ref_modules
from giru.audit.records import AUDIT_CODEC, Entry
from giru.metering import Spool, new_event_id

__all__ = ["main"]

CONCURRENCY: Final = 16
_SHARED_WITH_REV: Final = ("frames.py", "records.py", "segments.py")
_VERSUS: Final = (("work tree", "REV"), ("work tree again", "work tree"))


class _CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor, counting hand-offs to its threads (REV's commits, segment
    housekeeping; not the work tree's commits, which go to each spool's own thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.hops = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.hops += 1
        return super().submit(fn, *args, **kwargs)


def _load(ref: str, workdir: Path) -> ModuleType:
    """REV's giru.metering.spool as a module of its own."""
    changed = subprocess.run(
        [
            "git",
            "diff",
            "--name-only",
            ref,
            "--",
            *(f"src/giru/metering/{f}" for f in _SHARED_WITH_REV),
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    if changed:
        raise SystemExit(f"{changed} differ from {ref}: REV's spool would run the work tree's")
    (module,) = ref_modules(ref, workdir, ("metering.spool",))
    return module


async def _pair(kind: str, directory: Path, ref: ModuleType) -> tuple[Any, Any]:
    """A usage spool and an audit spool of `kind` (REV's or the work tree's)."""
    spool = ref.Spool if kind == "REV" else Spool
    usage = await spool.open(directory / "usage", group_commit_ms=0)
    audit = await spool.open(directory / "audit", group_commit_ms=0, codec=AUDIT_CODEC)
    return usage, audit


def _spin(us: float) -> None:
    """Busy this thread for `us` µs of its CPU time (the rest of a call's work)."""
    until = time.thread_time_ns() + us * 1000
    while time.thread_time_ns() < until:
        pass


def _appended(spool: Any, record: Any) -> Awaitable[None]:
    """The record's durable write: `submit` (the work tree's future) or `append` (REV's
    coroutine, before spools had `submit`)."""
    if hasattr(spool, "submit"):
        return cast("Awaitable[None]", spool.submit(record))
    return cast("Awaitable[None]", spool.append(record))


async def _calls(usage: Any, audit: Any, calls: int, work_us: float, pause_us: float) -> None:
    """`calls` calls' records by CONCURRENCY callers, each call's two at once after `work_us`
    of CPU on the event loop; a caller then sleeps up to `pause_us` (uniform) before its next."""
    left = calls
    rng = random.Random(5)

    async def caller() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            _spin(work_us)
            made = {**_USAGE, "event_id": new_event_id(), "at": datetime.now(UTC)}
            audited = Entry(governed_records(1, "bench")[0])  # the audit spool's item
            await asyncio.gather(_appended(usage, made), _appended(audit, audited))
            if pause_us:
                await asyncio.sleep(rng.uniform(0, pause_us) / 1e6)

    async with asyncio.TaskGroup() as group:
        for _ in range(CONCURRENCY):
            group.create_task(caller())


async def _drained(*spools: Any) -> None:
    for spool in spools:
        await spool.seal()
        async for batch in spool.pending():
            await spool.ack(batch.segment)


async def _run(
    ref_name: str, calls: int, rounds: int, work: tuple[float, float], directory: Path
) -> dict[str, Any]:
    work_us, pause_us = work
    executor = _CountingExecutor()
    asyncio.get_running_loop().set_default_executor(executor)
    ref = _load(ref_name, directory / "ref")
    kinds = ("REV", "work tree", "work tree again")
    pairs = {kind: await _pair(kind, directory / str(i), ref) for i, kind in enumerate(kinds)}
    cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
    wall: dict[str, list[float]] = {kind: [] for kind in kinds}
    hops: dict[str, list[float]] = {kind: [] for kind in kinds}
    try:
        for pair in pairs.values():  # warm up
            await _calls(*pair, calls, work_us, pause_us)
            await _drained(*pair)
        load = os.getloadavg()
        for kind in shuffled(kinds, rounds, seed=11):
            hopped = executor.hops
            started, clock = time.process_time_ns(), time.monotonic()
            await _calls(*pairs[kind], calls, work_us, pause_us)
            cpu[kind].append((time.process_time_ns() - started) / calls / 1000)
            wall[kind].append((time.monotonic() - clock) / calls * 1e6)
            hops[kind].append((executor.hops - hopped) / calls)
            await _drained(*pairs[kind])
    finally:
        for pair in pairs.values():
            for spool in pair:
                await spool.aclose()

    def versus(a: str, b: str, clock: dict[str, list[float]]) -> str:
        return said(paired(clock[a], clock[b]))

    return {
        "cpu_us_per_call": {k: round(statistics.median(v), 2) for k, v in cpu.items()},
        "wall_us_per_call": {k: round(statistics.median(v), 2) for k, v in wall.items()},
        "hops_per_call": {k: round(statistics.median(v), 3) for k, v in hops.items()},
        "differences": {f"{a} - {b}": versus(a, b, cpu) for a, b in _VERSUS},
        "wall_differences": {f"{a} - {b}": versus(a, b, wall) for a, b in _VERSUS},
        "load": [round(v, 2) for v in (*load, *os.getloadavg())],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.spool_hops", description=__doc__)
    parser.add_argument("--ref", default="main")
    parser.add_argument("--calls", type=int, default=400, help="calls per block")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument(
        "--work-us",
        type=float,
        default=700.0,
        help="CPU spent on the loop per call before its records (a governed call's: ~700)",
    )
    parser.add_argument(
        "--pause-us",
        type=float,
        default=0.0,
        help="a caller sleeps up to this long (uniform) after each call: spreads the calls",
    )
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm"), help="spools go here")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, GATEWAY_CPUS)
    with tempfile.TemporaryDirectory(prefix="giru-bench-spool-hops-", dir=args.dir) as directory:
        result = uvloop.run(
            _run(args.ref, args.calls, args.rounds, (args.work_us, args.pause_us), Path(directory))
        )
    for kind, us in result["cpu_us_per_call"].items():
        print(
            f"{kind:>28}: {us:8.2f} µs CPU per call, {result['wall_us_per_call'][kind]:8.1f} µs "
            f"wall per call, {result['hops_per_call'][kind]:.3f} executor hand-offs per call"
        )
    for name, difference in result["differences"].items():
        print(f"{name}: {difference} CPU per call")
    for name, difference in result["wall_differences"].items():
        print(f"{name}: {difference} wall per call")
    print(f"load (1, 5, 15 min) before, after: {result['load']}")


if __name__ == "__main__":
    main()
