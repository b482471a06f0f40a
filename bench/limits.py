"""`python -m bench.limits [--calls N]`: CPU µs per admission of the limiters, printed.

Each admission checks a subscription, a client and a tool rate limit and a day/month quota (all
generous, so every call is admitted and writes everything). Measured on uvloop in this process
(`time.process_time`: the gateway's share); for Redis also the redis-server's CPU (from /proc).
The Redis server is started here on a free loopback port in a temp dir, by tests/services.py's
`RedisServer`, and stopped at the end. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import shutil
import tempfile
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop
from tests.services import RedisServer, find_redis_server

from bench.procs import cpu_seconds, free_port
from giru.limits import AdmissionRequest, Limiter, LocalLimiter, RedisLimiter, admission_for
from giru.settings import LimitsSettings

GENEROUS = (1e6, 1_000_000)  # rps, burst: nothing is denied, every admission writes
LABEL_WIDTH = 46


def request(index: int = 0) -> AdmissionRequest:
    tool = f"tool-{index % 20}"
    now = datetime.now(UTC)
    return admission_for("gold", GENEROUS, "agent", GENEROUS, tool, GENEROUS, (10**9, 10**9), now)


async def admit_all(limiter: Limiter, calls: int, concurrency: int) -> None:
    requests = [request(index) for index in range(64)]

    async def worker(offset: int) -> None:
        for index in range(offset, calls, concurrency):
            admission = await limiter.admit(requests[index % 64])
            if not admission.allowed:
                raise RuntimeError(f"denied: {admission}")

    async with asyncio.TaskGroup() as tasks:
        for offset in range(concurrency):
            tasks.create_task(worker(offset))


def per_call(calls: int, run: Callable[[], object]) -> tuple[float, float]:
    """(CPU µs, wall µs) per call of running `run` once for `calls` calls."""
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return (
        (time.process_time() - cpu) / calls * 1e6,
        (time.perf_counter() - wall) / calls * 1e6,
    )


def report(label: str, cpu_us: float, wall_us: float, extra: str = "") -> None:
    line = f"{label:<{LABEL_WIDTH}} {cpu_us:7.1f} µs CPU/call {wall_us:7.1f} µs wall/call"
    print(line + extra, flush=True)


def build_all(calls: int) -> None:
    for index in range(calls):
        request(index)


def bench_local(calls: int) -> None:
    report("admission_for (build a request)", *per_call(calls, lambda: build_all(calls)))
    limiter = LocalLimiter(max_keys=100_000)
    run = lambda: uvloop.run(admit_all(limiter, calls, 1))  # noqa: E731 -- one-line thunk
    report("LocalLimiter.admit (3 limits + quota)", *per_call(calls, run))


def start_redis(workdir: Path) -> RedisServer:
    """A redis-server on a free loopback port in `workdir`, started the way the tests start one."""
    server = RedisServer(find_redis_server(), free_port(), workdir)
    server.start()
    return server


def redis_run(
    server: RedisServer, calls: int, concurrency: int, server_us: list[float]
) -> Coroutine[Any, Any, None]:
    async def run() -> None:
        limiter = RedisLimiter(server.url(), LimitsSettings(redis_timeout_s=1.0))
        try:
            await admit_all(limiter, 200, concurrency)  # warm: connections, script cache
            began = cpu_seconds(server.pid)
            await admit_all(limiter, calls, concurrency)
            server_us.append((cpu_seconds(server.pid) - began) / calls * 1e6)
        finally:
            await limiter.aclose()

    return run()


def bench_redis(calls: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="giru-bench-limits-"))
    server = start_redis(workdir)
    try:
        for concurrency in (1, 16):
            server_us: list[float] = []
            coroutine = redis_run(server, calls, concurrency, server_us)
            cpu_us, wall_us = per_call(calls, functools.partial(uvloop.run, coroutine))
            label = f"RedisLimiter.admit (3 limits + quota), c={concurrency}"
            report(label, cpu_us, wall_us, f"  (redis-server {server_us[0]:.1f} µs CPU/call)")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="CPU µs per admission of the limiters")
    parser.add_argument("--calls", type=int, default=20_000, help="Redis admissions per run")
    args = parser.parse_args()
    bench_local(args.calls * 5)
    bench_redis(args.calls)


if __name__ == "__main__":
    main()
