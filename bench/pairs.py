"""Paired CPU comparisons that hold on a shared machine: what one variant costs more than another,
in CPU µs per call of the process(es) answering, with a confidence interval.

Each side is a way of making `calls` calls (a credential, a gateway started with tracing on, …)
and the CPU clock of the process that answers them. A round measures every side once, for a
short block, in an order shuffled per round (seeded); the figure is the median over rounds of
each side's per-call CPU minus the baseline's *in the same round*, with a percentile bootstrap
95 % interval of that median. Other load on the machine changes what a call costs (shared caches,
the other hyperthread, frequency), but it changes it for both sides of a round alike, and a
short round sees the same load on both: the paired difference cancels what the sides' own
medians do not.

The clock is the kernel's CPU clock of a whole process (`clock_gettime` on the process's
CPU-time clock id, what glibc's `clock_getcpuclockid` returns): user + system time of every
thread, exited threads included, in nanoseconds, read from outside the process. /proc's
utime/stime tick at 10 ms, which a block of a few hundred calls cannot resolve.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from bench.procs import tree

__all__ = [
    "Side",
    "alternate",
    "compare_blocks",
    "describe",
    "median_ci",
    "paired",
    "process_cpu_ns",
    "said",
    "shuffled",
    "tree_cpu_ns",
]

_RESAMPLES: Final = 4000
_CPUCLOCK_SCHED: Final = 2


def process_cpu_ns(pid: int) -> int:
    """CPU time of process `pid` (every thread, exited ones too), ns; 0 if it is gone."""
    try:
        return time.clock_gettime_ns(((~pid) << 3) | _CPUCLOCK_SCHED)
    except OSError:
        return 0


def tree_cpu_ns(pid: int) -> int:
    """CPU time of `pid` and its live descendants (a managed OPA child, workers), ns."""
    return sum(process_cpu_ns(member) for member in tree(pid))


@dataclass(frozen=True)
class Side:
    """One variant: `block(n)` makes n calls; `cpu()` reads the answering process's clock (ns)."""

    name: str
    block: Callable[[int], Awaitable[object]]
    cpu: Callable[[], int]


def median_ci(values: Sequence[float], seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """A percentile bootstrap interval of the median of `values`."""
    rng = random.Random(seed)
    n = len(values)
    medians = sorted(statistics.median(rng.choices(values, k=n)) for _ in range(_RESAMPLES))
    tail = (1 - level) / 2
    return medians[int(tail * _RESAMPLES)], medians[int((1 - tail) * _RESAMPLES) - 1]


def shuffled(names: Iterable[str], rounds: int, seed: int) -> Iterator[str]:
    """Every name once per round, `rounds` times, in an order shuffled per round (seeded): the
    order in which a diagnostic bench times its sides."""
    rng = random.Random(seed)
    order = list(names)
    for _ in range(rounds):
        rng.shuffle(order)
        yield from order


def paired(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """The median of the per-round differences `a - b` and its 95 % bootstrap interval (µs,
    two decimals)."""
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    low, high = median_ci(diffs)
    return {"median": round(statistics.median(diffs), 2), "ci95": [round(low, 2), round(high, 2)]}


def said(difference: dict[str, Any]) -> str:
    """A `paired` difference as text: "+1.23 µs (95 % CI +0.50 … +2.00)"."""
    low, high = difference["ci95"]
    return f"{difference['median']:+.2f} µs (95 % CI {low:+.2f} … {high:+.2f})"


async def alternate(
    sides: Sequence[Side],
    *,
    calls: int,
    rounds: int,
    seed: int = 13,
    versus: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """`rounds` rounds of one `calls`-call block per side (shuffled order); sides[0] is the
    baseline. Returns each side's per-call CPU (median round, quartiles, every round) and, for
    the others, the median paired difference from the baseline with its 95 % interval; the
    same for each (side, other side) of `versus` under "differences"."""
    rng = random.Random(seed)
    per_call: dict[str, list[float]] = {side.name: [] for side in sides}
    load_before = os.getloadavg()
    started = time.monotonic()
    for _ in range(rounds):
        order = list(sides)
        rng.shuffle(order)
        for side in order:
            before = side.cpu()
            await side.block(calls)
            per_call[side.name].append((side.cpu() - before) / calls / 1000)
    base = per_call[sides[0].name]
    result: dict[str, Any] = {
        "baseline": sides[0].name,
        "calls_per_block": calls,
        "rounds": rounds,
        "seconds": round(time.monotonic() - started, 1),
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "sides": {},
    }
    for side in sides:
        values = per_call[side.name]
        quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
        summary: dict[str, Any] = {
            "cpu_us_per_call": round(statistics.median(values), 2),
            "cpu_us_per_call_q1_q3": [round(quartiles[0], 2), round(quartiles[2], 2)],
            "cpu_us_per_call_rounds": [round(v, 1) for v in values],
        }
        if side is not sides[0]:
            differences = [v - b for v, b in zip(values, base, strict=True)]
            low, high = median_ci(differences)
            summary["added_cpu_us_per_call"] = round(statistics.median(differences), 2)
            summary["added_ci95"] = [round(low, 2), round(high, 2)]
            summary["added_mean"] = round(statistics.fmean(differences), 2)
        result["sides"][side.name] = summary
    result["differences"] = {}
    for name, other in versus:
        differences = [v - b for v, b in zip(per_call[name], per_call[other], strict=True)]
        low, high = median_ci(differences)
        result["differences"][f"{name} - {other}"] = {
            "added_cpu_us_per_call": round(statistics.median(differences), 2),
            "added_ci95": [round(low, 2), round(high, 2)],
            "added_mean": round(statistics.fmean(differences), 2),
        }
    return result


async def compare_blocks(
    benches: dict[str, dict[str, Callable[[int], Awaitable[None]]]],
    *,
    calls: int,
    rounds: int,
    only: str = "",
) -> dict[str, Any]:
    """Each bench's blocks (main's first, then "work tree" and "work tree again" for the A/A
    pair) as sides timed by the thread's CPU: one warm-up block each, then `alternate`, printed
    as it ends; only the benches whose name holds `only`."""
    results = {}
    for name, blocks in benches.items():
        if only not in name:
            continue
        sides = [Side(side, block, time.thread_time_ns) for side, block in blocks.items()]
        for side in sides:
            await side.block(calls)  # warm up
        results[name] = await alternate(
            sides, calls=calls, rounds=rounds, versus=[("work tree again", "work tree")]
        )
        print(name)
        print(describe(results[name]), flush=True)
    return results


def describe(result: dict[str, Any]) -> str:
    """One line per side: per-call CPU and the paired difference with its interval."""
    lines = []
    for name, side in result["sides"].items():
        line = f"    {name:<14} {side['cpu_us_per_call']:9.1f} µs/call"
        if "added_cpu_us_per_call" in side:
            low, high = side["added_ci95"]
            line += (
                f"   added {side['added_cpu_us_per_call']:+8.2f} µs "
                f"(95 % CI {low:+.2f} … {high:+.2f})"
            )
        lines.append(line)
    for name, difference in result.get("differences", {}).items():
        low, high = difference["added_ci95"]
        lines.append(
            f"    {name}: {difference['added_cpu_us_per_call']:+.2f} µs "
            f"(95 % CI {low:+.2f} … {high:+.2f})"
        )
    load = ", ".join(f"{v:.2f}" for v in result["loadavg_before"] + result["loadavg_after"][:1])
    lines.append(
        f"    {result['rounds']} rounds x {result['calls_per_block']} calls, "
        f"{result['seconds']} s, load {load}"
    )
    return "\n".join(lines)
