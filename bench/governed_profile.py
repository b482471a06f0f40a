"""`python -m bench.governed_profile [--calls N] [--windows W] [--spy SECONDS] [--out DIR]
[--concurrency C | --rate RPS]`: where a governed tools/call (policy on, a subscription with rate
limits and quotas, usage and audit records) spends Giru's CPU.

One upstream and one `giru run` (bench.solo; policy on, the client `bench-governed` of the
governed scenario) started through bench.profiled. First, without any profiler, the process's
CPU per call and the loop thread's share (/proc schedstat: CPU and times scheduled, per thread)
over `windows` blocks of `calls` tools/calls at `--concurrency` connections (16), or open loop at
`--rate` calls a second (each call sent at its time whatever happened before; latency from that
time); then `windows` blocks each under a fresh cProfile of the loop
thread, summed per call (calls per tools/call are exact; times are the profiler's, scaled in
the report to the unprofiled loop-thread CPU); then, when py-spy is there, `--spy` seconds of
py-spy samples of whichever thread holds the GIL (`--gil`; no cProfile on) under the same load.
Written as JSON and Markdown to `--out` (`--plain`: bench.regression's call; `--ref REV`: that
commit's `src`, for comparing call counts across revisions).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import pstats
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Final

import uvloop

from bench.client import Caller
from bench.client import stats as latency_stats
from bench.fleet import _GOVERNED_KEY, LOAD_CPUS, REPO, _governed_manifest
from bench.identity_profile import _label
from bench.pairs import process_cpu_ns
from bench.procs import Proc
from bench.profile import PY_SPY, summarize
from bench.solo import KEY, client_manifest, start_giru, start_upstream

__all__ = ["main", "ref_src"]

_OPEN_LOOP_CONNECTIONS: Final = 64  # as bench.client.rate_run: at most this many in flight
# Counted by `perf stat` (kernel tracepoints) per window with --perf: loop thread vs the others.
_PERF_EVENTS: Final = (
    "raw_syscalls:sys_enter",
    "context-switches",
    "page-faults",
    "syscalls:sys_enter_mmap",
    "syscalls:sys_enter_munmap",
    "syscalls:sys_enter_getpid",
    "syscalls:sys_enter_epoll_wait",
    "syscalls:sys_enter_epoll_pwait",
    "syscalls:sys_enter_futex",
    "syscalls:sys_enter_fdatasync",
    "syscalls:sys_enter_write",
    "syscalls:sys_enter_writev",
    "syscalls:sys_enter_read",
    "syscalls:sys_enter_recvfrom",
    "syscalls:sys_enter_sendto",
)
# Where a function's own time goes, by the first matching path fragment (the report's modules).
_AREAS: Final = (
    ("uvicorn/", "ASGI front end (uvicorn, httptools)"),
    ("httptools", "ASGI front end (uvicorn, httptools)"),
    ("starlette/", "ASGI front end (starlette routing)"),
    ("fastapi/", "ASGI front end (starlette routing)"),
    ("aiohttp/", "upstream client (aiohttp)"),
    ("yarl/", "upstream client (aiohttp)"),
    ("multidict", "upstream client (aiohttp)"),
    ("orjson", "JSON encode/decode"),
    ("json/", "JSON encode/decode"),
    ("giru/limits/", "limits"),
    ("giru/metering/", "usage spool"),
    ("giru/audit/", "audit spool"),
    ("giru/policy/", "policy (input, cache, client)"),
    ("giru/telemetry/", "telemetry (tracing, metrics)"),
    ("opentelemetry/", "telemetry (tracing, metrics)"),
    ("prometheus_client/", "telemetry (tracing, metrics)"),
    ("structlog/", "logging"),
    ("logging/", "logging"),
    ("giru/proxy/", "giru proxy (dispatch, gateway, admission)"),
    ("giru/upstream/", "giru upstream transport"),
    ("giru/", "giru other"),
    ("asyncio/", "asyncio / event loop"),
    ("uvloop", "asyncio / event loop"),
    ("contextvars", "contextvars"),
)


def _area(function: str) -> str:
    for fragment, area in _AREAS:
        if fragment in function:
            return area
    if function.startswith("<"):  # builtins: <method 'x' of 'y' objects>
        return "builtins"
    return "other"


def _sched(pid: int) -> dict[int, tuple[int, int]]:
    """Per live thread: CPU ns and times it was scheduled (wake-ups), from schedstat."""
    found: dict[int, tuple[int, int]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "schedstat").read_text().split()
            found[int(task.name)] = (int(fields[0]), int(fields[2]))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _names(pid: int) -> dict[int, str]:
    """Per live thread: its name (/proc comm)."""
    found: dict[int, str] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found[int(task.name)] = (task / "comm").read_text().strip()
        except (OSError, ValueError):
            continue
    return found


def _by_thread(
    pid: int, before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]], calls: int
) -> dict[str, list[float]]:
    """Per thread name (threads alive at both ends, summed by name): [CPU µs, runs] per call."""
    names = _names(pid)
    out: dict[str, list[float]] = {}
    for tid, (ns, runs) in after.items():
        if tid not in before:
            continue
        name = "loop" if tid == pid else names.get(tid, str(tid))
        row = out.setdefault(name, [0.0, 0.0])
        row[0] += (ns - before[tid][0]) / calls / 1000
        row[1] += (runs - before[tid][1]) / calls
    return {name: [round(v, 3) for v in row] for name, row in out.items()}


async def _drive(caller: Caller, calls: int, rate: float) -> list[float]:
    """`calls` tools/calls, closed loop (no latencies) or open loop at `rate` a second."""
    if rate > 0:
        return await caller.paced(calls, rate)
    await caller.calls(calls)
    return []


def _ticks(pid: int) -> tuple[int, int]:
    """The loop thread's user and system CPU, clock ticks (/proc stat)."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


async def _perf_start(pid: int, out: Path) -> asyncio.subprocess.Process:
    argv = ["perf", "stat", "-x", ",", "--per-thread", "-e", ",".join(_PERF_EVENTS)]
    argv += ["-p", str(pid), "-o", str(out)]
    started = await asyncio.create_subprocess_exec(*argv, stderr=subprocess.DEVNULL)
    await asyncio.sleep(0.3)  # attached (the window's counts are per call, not exact totals)
    return started


async def _perf_stop(perf: asyncio.subprocess.Process, out: Path, pid: int, calls: int) -> Any:
    perf.send_signal(signal.SIGINT)
    await perf.wait()
    counts: dict[str, float] = defaultdict(float)
    for line in (await asyncio.to_thread(out.read_text)).splitlines():
        fields = line.split(",")
        if len(fields) < 4 or not fields[1].isdigit():
            continue
        who = "loop" if fields[0].rsplit("-", 1)[-1] == str(pid) else "others"
        event = fields[3].rsplit(":", 1)[-1].removeprefix("sys_enter_") or "syscalls"
        counts[f"{who}:{'syscalls' if event == 'sys_enter' else event}"] += int(fields[1]) / calls
    return counts


async def _block(
    caller: Caller, pid: int, calls: int, rate: float, perf: Path | None
) -> dict[str, float]:
    """Per call: process CPU µs and the loop thread's (user, system); how often the loop thread
    and the other (live) threads were scheduled; the latencies if paced; with `perf`, syscalls
    and context switches counted by `perf stat` (loop thread, other threads)."""
    counting = await _perf_start(pid, perf) if perf is not None else None
    before_threads, before, ticks = _sched(pid), process_cpu_ns(pid), _ticks(pid)
    latencies = await _drive(caller, calls, rate)
    after_threads, after, ticks_after = _sched(pid), process_cpu_ns(pid), _ticks(pid)
    loop_ns, loop_runs = (
        a - b for a, b in zip(after_threads[pid], before_threads[pid], strict=True)
    )
    runs = sum(r for tid, (_ns, r) in after_threads.items() if tid != pid)
    runs -= sum(
        r for tid, (_ns, r) in before_threads.items() if tid != pid and tid in after_threads
    )
    figures = {
        "process_us": (after - before) / calls / 1000,
        "loop_us": loop_ns / calls / 1000,
        "loop_runs": loop_runs / calls,
        "other_threads_runs": runs / calls,
        "loop_user_us": (ticks_after[0] - ticks[0]) * 1e6 / os.sysconf("SC_CLK_TCK") / calls,
        "loop_system_us": (ticks_after[1] - ticks[1]) * 1e6 / os.sysconf("SC_CLK_TCK") / calls,
    }
    for name, (us, runs_) in _by_thread(pid, before_threads, after_threads, calls).items():
        figures[f"thread {name} us"], figures[f"thread {name} runs"] = us, runs_
    if counting is not None and perf is not None:
        figures.update(await _perf_stop(counting, perf, pid, calls))
    if latencies:
        figures.update(latency_stats(latencies))
    return figures


async def _profiled(
    caller: Caller, giru: Proc, prof: Path, calls: int, index: int, rate: float
) -> Any:
    os.kill(giru.pid, signal.SIGUSR1)
    await _drive(caller, calls, rate)
    os.kill(giru.pid, signal.SIGUSR2)
    target = prof / f"{index}.prof"
    deadline = time.monotonic() + 30
    while not target.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"no profile at {target}: {giru.log.read_text()[-2000:]}")
        await asyncio.sleep(0.02)
    figures = json.loads(target.with_suffix(".gc.json").read_text())
    stats = pstats.Stats(str(target)).stats  # type: ignore[attr-defined]
    return stats, figures["gc"]


async def _measure(giru: Proc, url: str, prof: Path, args: argparse.Namespace) -> dict[str, Any]:
    rows: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    plain: list[dict[str, float]] = []
    gc_rows = [[0.0, 0.0] for _ in range(3)]  # per generation: per 1000 calls, µs per call
    key = KEY if args.plain else _GOVERNED_KEY
    connections = _OPEN_LOOP_CONNECTIONS if args.rate else args.concurrency
    async with Caller(url, key, connections) as caller:
        await caller.calls(3000)  # warm up: caches, limiter keys, connections
        load_before = os.getloadavg()
        for _ in range(args.windows):
            perf = prof / "perf.txt" if args.perf else None
            plain.append(await _block(caller, giru.pid, args.calls, args.rate, perf))
        profiled_total = 0.0
        for index in range(1, args.windows + 1):
            stats, collected = await _profiled(caller, giru, prof, args.calls, index, args.rate)
            for generation, (count, seconds) in enumerate(collected):
                gc_rows[generation][0] += count / args.calls / args.windows * 1000
                gc_rows[generation][1] += seconds * 1e6 / args.calls / args.windows
            for key, (_cc, nc, tt, ct, _callers) in stats.items():
                row = rows[_label(key)]
                row["calls"] += nc / args.calls / args.windows
                row["own_us"] += tt * 1e6 / args.calls / args.windows
                row["cum_us"] += ct * 1e6 / args.calls / args.windows
                profiled_total += tt * 1e6 / args.calls / args.windows
        spy = await _spy(caller, giru, args, prof) if args.spy else None
        load_after = os.getloadavg()
    medians = {name: sorted(b[name] for b in plain)[len(plain) // 2] for name in plain[0]}
    loop_us, process_us = medians["loop_us"], medians["process_us"]
    scale = loop_us / profiled_total if profiled_total else 0.0
    return {
        "calls_per_window": args.calls,
        "windows": args.windows,
        "drive": _drive_name(args),
        "window_medians": {name: round(value, 3) for name, value in medians.items()},
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in load_after],
        "process_us_per_call": round(process_us, 1),
        "loop_thread_us_per_call": round(loop_us, 1),
        "profiled_own_us_per_call": round(profiled_total, 1),
        "scale": round(scale, 4),
        "gc_per_generation": [
            {"collections_per_1000_calls": round(n, 2), "us_per_call_profiled": round(us, 2)}
            for n, us in gc_rows
        ],
        "functions": {k: {m: round(v, 3) for m, v in r.items()} for k, r in rows.items()},
        "py_spy": spy,
    }


async def _spy(
    caller: Caller, giru: Proc, args: argparse.Namespace, outdir: Path
) -> dict[str, Any] | None:
    seconds = args.spy
    if not PY_SPY.exists():
        return None
    raw = outdir / "py-spy.txt"
    argv = [str(PY_SPY), "record", "--pid", str(giru.pid), "--duration", str(seconds)]
    argv += ["--rate", "250", "--gil", "--format", "raw", "--nonblocking", "--output", str(raw)]
    spy = await asyncio.create_subprocess_exec(
        *argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    while spy.returncode is None:
        await _drive(caller, 400, args.rate)
        if spy.returncode is None:
            try:
                await asyncio.wait_for(spy.wait(), 0.001)
            except TimeoutError:
                continue
    if spy.returncode != 0 or not raw.exists():
        return None
    summary = summarize(raw, top=40)
    summary["raw"] = raw.read_text()
    return summary


def _drive_name(args: argparse.Namespace) -> str:
    if args.rate:
        return f"open loop at {args.rate:g} calls/s"
    return f"closed loop, c={args.concurrency}"


def _table(result: dict[str, Any], top: int) -> list[str]:
    functions = result["functions"]
    scale = result["scale"]
    lines = ["| function | calls/call | own µs/call | cum µs/call |", "|---|---:|---:|---:|"]
    by_cum = sorted(functions.items(), key=lambda kv: -kv[1]["cum_us"])[:top]
    for name, row in by_cum:
        lines.append(
            f"| `{name}` | {row['calls']:.2f} | {row['own_us'] * scale:.1f} "
            f"| {row['cum_us'] * scale:.1f} |"
        )
    own = ["| function | calls/call | own µs/call |", "|---|---:|---:|"]
    for name, row in sorted(functions.items(), key=lambda kv: -kv[1]["own_us"])[:top]:
        own.append(f"| `{name}` | {row['calls']:.2f} | {row['own_us'] * scale:.1f} |")
    areas: dict[str, float] = defaultdict(float)
    for name, row in functions.items():
        areas[_area(name)] += row["own_us"] * scale
    area_lines = ["| where (own time) | µs/call | share |", "|---|---:|---:|"]
    total = sum(areas.values()) or 1.0
    for area, us in sorted(areas.items(), key=lambda kv: -kv[1]):
        area_lines.append(f"| {area} | {us:.1f} | {us / total:.1%} |")
    calls = sum(row["calls"] for row in functions.values())
    return [
        f"Function calls per tools/call (cProfile, loop thread): {calls:,.0f}.",
        "",
        "### By area (own time, scaled)",
        "",
        *area_lines,
        "",
        "### Top cumulative",
        "",
        *lines,
        "",
        "### Top own time",
        "",
        *own,
    ]


def _markdown(result: dict[str, Any], command: str, top: int) -> str:
    spy = result.get("py_spy")
    spy_lines: list[str] = []
    if spy:
        spy_lines = [
            "",
            f"## py-spy --gil (no cProfile; {spy['samples']} samples, share of samples)",
            "",
            "| inclusive | share | | self | share |",
            "|---|---:|---|---|---:|",
        ]
        for inc, own in zip(spy["inclusive"][:top], spy["self"][:top], strict=False):
            spy_lines.append(
                f"| `{inc['function']}` | {inc['share']:.1%} | | `{own['function']}` "
                f"| {own['share']:.1%} |"
            )
    return "\n".join(
        [
            f"# Governed tools/call profile — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            "",
            f"`{command}`",
            "",
            f"Load average before → after: {result['loadavg_before']} → {result['loadavg_after']}.",
            f"Unprofiled: {result['process_us_per_call']} µs of Giru process CPU per call "
            f"({result['drive']}, OPA child not included), of which the loop thread "
            f"{result['loop_thread_us_per_call']} µs. cProfile own times (inflated by the "
            f"profiler: {result['profiled_own_us_per_call']} µs/call in total) are scaled by "
            f"{result['scale']} to the unprofiled loop-thread CPU below; call counts are exact.",
            "Garbage collector, per generation (0, 1, 2), while profiled: "
            + "; ".join(
                f"{g['collections_per_1000_calls']} collections per 1000 calls, "
                f"{g['us_per_call_profiled']} µs per call"
                for g in result["gc_per_generation"]
            )
            + ".",
            f"Medians over the unprofiled windows (per call; runs: times a thread was "
            f"scheduled): {result['window_medians']}.",
            "",
            *_table(result, top),
            *spy_lines,
            "",
        ]
    )


def ref_src(ref: str, workdir: Path, name: str = "ref") -> Path:
    """The `src` to run for `--ref`: the folder given, else the commit's `src` and `policies`
    unpacked in `workdir/name`; its checkout gets the work tree's `.tools` (opa) when it has
    none, and the work tree's `policies` when given a folder without them."""
    if Path(ref).is_dir():
        src = Path(ref).resolve()
    else:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", ref, "src", "policies"],
            cwd=REPO,
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(workdir / name, filter="data")
        src = workdir / name / "src"
    for shared in (".tools", "policies"):
        if not (src.parent / shared).exists():
            (src.parent / shared).symlink_to(REPO / shared)
    return src


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.governed_profile", description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="calls per window")
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16, help="closed loop: connections")
    parser.add_argument("--rate", type=float, default=0.0, help="open loop at this many calls/s")
    parser.add_argument(
        "--perf", action="store_true", help="count syscalls per call (perf stat) in the windows"
    )
    parser.add_argument("--spy", type=int, default=10, help="py-spy seconds (0: none)")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "profile")
    parser.add_argument(
        "--ref", help="profile this commit's src (or this src folder; through PYTHONPATH) instead"
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="bench.regression's call instead: policy off, the client `bench` (no subscription)",
    )
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, LOAD_CPUS)  # the client beside the upstream, off the gateway's core
    command = "python -m bench.governed_profile " + " ".join(argv or sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="giru-governed-prof-", dir="/dev/shm") as directory:
        workdir = Path(directory)
        upstream, upstream_url = start_upstream(workdir)
        try:
            prof = workdir / "prof"
            prof.mkdir()
            manifests = client_manifest(upstream_url) + "---\n" + _governed_manifest()
            env = {
                "GIRU_BENCH_PROFILE_DIR": str(prof),
                "GIRU_POLICY__ENABLED": "false" if args.plain else "true",
                "GIRU_CATALOG__UNHEALTHY_AFTER": "1000000",
                "GIRU_AUDIT__VERIFY_INTERVAL_S": "0",  # not the first whole-chain check at 60 s
            }
            if args.ref:
                env["PYTHONPATH"] = str(ref_src(args.ref, workdir))
            command_argv = (sys.executable, "-m", "bench.profiled")
            giru, url = start_giru(workdir, "giru", manifests, env, command=command_argv)
            try:
                result = uvloop.run(_measure(giru, url, prof, args))
            finally:
                giru.stop()
        finally:
            upstream.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    stem = f"{stamp}-{'plain' if args.plain else 'governed'}" + (
        f"-{Path(args.ref).name}" if args.ref else ""
    )
    stem += f"-rate{args.rate:g}" if args.rate else f"-c{args.concurrency}"
    raw = (result.get("py_spy") or {}).pop("raw", None)
    if raw is not None:  # py-spy's collapsed stacks, for flame graphs or a closer look
        (args.out / f"{stem}-py-spy.txt").write_text(raw)
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / f"{stem}.md").write_text(_markdown(result, command.strip(), args.top))
    print(_markdown(result, command.strip(), args.top))


if __name__ == "__main__":
    main()
