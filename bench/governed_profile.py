"""`python -m bench.governed_profile [--calls N] [--windows W] [--spy SECONDS] [--out DIR]`:
where a governed tools/call (policy on, a subscription with rate limits and quotas, usage and
audit records) spends Giru's CPU.

One upstream and one `giru run` (bench.solo; policy on, the client `bench-governed` of the
governed scenario) started through bench.profiled. First, without any profiler, the process's
CPU per call and the loop thread's share (/proc schedstat) over `windows` blocks of `calls`
tools/calls at 16 connections; then `windows` blocks each under a fresh cProfile of the loop
thread, summed per call (calls per tools/call are exact; times are the profiler's, scaled in
the report to the unprofiled loop-thread CPU); then, when py-spy is there, `--spy` seconds of
py-spy samples of whichever thread holds the GIL (`--gil`; no cProfile on) under the same load.
Written as JSON and Markdown to `--out` (`--plain`: bench.regression's call; `--ref REV`: that
commit's `src`, for comparing call counts across revisions).
"""

from __future__ import annotations

import argparse
import asyncio
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
from bench.fleet import _GOVERNED_KEY, REPO, _governed_manifest
from bench.identity_profile import _label, _thread_ns
from bench.pairs import process_cpu_ns
from bench.procs import Proc
from bench.profile import PY_SPY, summarize
from bench.solo import KEY, client_manifest, start_giru, start_upstream

__all__ = ["main"]

_CONCURRENCY: Final = 16
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


async def _block(caller: Caller, pid: int, calls: int) -> dict[str, float]:
    before_threads, before = _thread_ns(pid), process_cpu_ns(pid)
    await caller.calls(calls)
    after_threads, after = _thread_ns(pid), process_cpu_ns(pid)
    loop = after_threads.get(pid, 0) - before_threads.get(pid, 0)
    return {"process_us": (after - before) / calls / 1000, "loop_us": loop / calls / 1000}


async def _profiled(caller: Caller, giru: Proc, prof: Path, calls: int, index: int) -> Any:
    os.kill(giru.pid, signal.SIGUSR1)
    await caller.calls(calls)
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
    async with Caller(url, key, _CONCURRENCY) as caller:
        await caller.calls(3000)  # warm up: caches, limiter keys, connections
        load_before = os.getloadavg()
        for _ in range(args.windows):
            plain.append(await _block(caller, giru.pid, args.calls))
        profiled_total = 0.0
        for index in range(1, args.windows + 1):
            stats, collected = await _profiled(caller, giru, prof, args.calls, index)
            for generation, (count, seconds) in enumerate(collected):
                gc_rows[generation][0] += count / args.calls / args.windows * 1000
                gc_rows[generation][1] += seconds * 1e6 / args.calls / args.windows
            for key, (_cc, nc, tt, ct, _callers) in stats.items():
                row = rows[_label(key)]
                row["calls"] += nc / args.calls / args.windows
                row["own_us"] += tt * 1e6 / args.calls / args.windows
                row["cum_us"] += ct * 1e6 / args.calls / args.windows
                profiled_total += tt * 1e6 / args.calls / args.windows
        spy = await _spy(caller, giru, args.spy, prof) if args.spy else None
        load_after = os.getloadavg()
    loop_us = sorted(b["loop_us"] for b in plain)[len(plain) // 2]
    process_us = sorted(b["process_us"] for b in plain)[len(plain) // 2]
    scale = loop_us / profiled_total if profiled_total else 0.0
    return {
        "calls_per_window": args.calls,
        "windows": args.windows,
        "concurrency": _CONCURRENCY,
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


async def _spy(caller: Caller, giru: Proc, seconds: int, outdir: Path) -> dict[str, Any] | None:
    if not PY_SPY.exists():
        return None
    raw = outdir / "py-spy.txt"
    argv = [str(PY_SPY), "record", "--pid", str(giru.pid), "--duration", str(seconds)]
    argv += ["--rate", "250", "--gil", "--format", "raw", "--nonblocking", "--output", str(raw)]
    spy = await asyncio.create_subprocess_exec(
        *argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    while spy.returncode is None:
        await caller.calls(400)
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
            f"(c={result['concurrency']}, OPA child not included), of which the loop thread "
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
            "",
            *_table(result, top),
            *spy_lines,
            "",
        ]
    )


def _extract(ref: str, workdir: Path) -> Path:
    """`git archive REF src` unpacked in `workdir`; its `src` folder."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "src"], cwd=REPO, check=True, capture_output=True
    ).stdout
    (workdir / "ref.tar").write_bytes(archive)
    with tarfile.open(workdir / "ref.tar") as tar:
        tar.extractall(workdir / "ref", filter="data")
    return workdir / "ref" / "src"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.governed_profile", description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="calls per window")
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--spy", type=int, default=10, help="py-spy seconds (0: none)")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "profile")
    parser.add_argument("--ref", help="profile this commit's src (through PYTHONPATH) instead")
    parser.add_argument(
        "--plain",
        action="store_true",
        help="bench.regression's call instead: policy off, the client `bench` (no subscription)",
    )
    args = parser.parse_args(argv)
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
                env["PYTHONPATH"] = str(_extract(args.ref, workdir))
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
    stem = f"{stamp}-{'plain' if args.plain else 'governed'}" + (f"-{args.ref}" if args.ref else "")
    raw = (result.get("py_spy") or {}).pop("raw", None)
    if raw is not None:  # py-spy's collapsed stacks, for flame graphs or a closer look
        (args.out / f"{stem}-py-spy.txt").write_text(raw)
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / f"{stem}.md").write_text(_markdown(result, command.strip(), args.top))
    print(_markdown(result, command.strip(), args.top))


if __name__ == "__main__":
    main()
