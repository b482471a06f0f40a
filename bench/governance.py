"""`python -m bench.governance [--calls N] [--out DIR]`: what rate limits, quotas and usage
metering add to a tools/call, in CPU µs per call (issue 5: target ≤ 150 µs, and no database write
on the request path).

The gateway's own call gate (`giru.proxy.gate.CallGate.run`) is driven in this process on uvloop
with a forward that answers at once, so the only work measured is the gate's. Each variant runs
the same calls at concurrency 1 and 16 on fresh parts in a temp dir:

- **bare**: no limits (an ungoverned client), usage records dropped, no policy, no audit;
- **limits + quota**: a client whose subscription has a rate, a per-tool rate and a day/month
  quota, admitted by `RedisLimiter` (one Lua call per call) against a real redis-server;
- **usage**: real `UsageWriter` (fsync'd spool with group commit, drained in batches) into a real
  store: embedded SQLite, and PostgreSQL when its binaries are here;
- **all**: both; *added* = all minus bare (the issue's number);
- **all, store stalled**: the store never answers: calls go on at the same cost (nothing on the
  request path waits for the database) and the records wait in the spool;
- **audit** (for scale, not part of the target): the hash-chained audit log too, as `giru run`
  does.

CPU is `time.process_time()` of this process (every thread: the spool's fsync, the drain, the
SQLite driver), including a final flush so every record is stored inside the measurement;
redis-server's and PostgreSQL's CPU are reported apart. Numbers are printed and written to
`<out>/<date>-governance.json` and `<out>/governance.md`, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop
from tests.services import (
    PostgresServer,
    RedisServer,
    ServiceUnavailableError,
    find_postgres_bindir,
)

from bench.fleet import GATEWAY_CPUS, LOAD_CPUS, REPO
from bench.limits import start_redis
from bench.machine import describe
from bench.procs import cpu_seconds
from bench.report import write_standalone
from bench.scenarios import Say
from giru.access.clients import ClientPrincipal
from giru.access.grants import Grants, SubscriptionLimits
from giru.audit import AuditLog, AuditMetrics
from giru.limits import RedisLimiter
from giru.mcp.jsonrpc import Message
from giru.metering import UsageRecord, UsageWriter, new_event_id
from giru.proxy.endpoints import Principal
from giru.proxy.gate import INGRESS, CallGate, Ingress, Subject
from giru.settings import LimitsSettings
from giru.store import Store

SCENARIO = "governance"
CONCURRENCY = (1, 16)
GENEROUS = SubscriptionLimits(
    rate=(1e6, 1_000_000),
    per_day=10**9,
    per_month=10**9,
    tools={"echo": (1e6, 1_000_000)},
)
GOVERNED = ClientPrincipal(
    "agent",
    servers=frozenset({"s00"}),
    subscriptions=Grants(servers={"s00": "gold"}, limits={"gold": GENEROUS}),
    rate=(1e6, 1_000_000),
)
PLAIN = ClientPrincipal("agent", servers=frozenset({"s00"}))
SUBJECT = Subject("tools/call", "s00", "echo", {"text": "hello"}, None, "2025-06-18")
PEPPER = b"bench-governance-pepper-32-bytes"


class DroppedUsage:
    """The bare gate's usage sink: takes every record, keeps none."""

    def check_capacity(self) -> None:
        return None

    def submit(self, record: UsageRecord) -> asyncio.Future[None]:
        durable = asyncio.get_running_loop().create_future()
        durable.set_result(None)
        return durable


UsageSinkLike = DroppedUsage | UsageWriter


@dataclass
class CountingSink:
    """The store as the drain sees it, counting inserts; `stalled`: never answers."""

    store: Store
    stalled: bool = False
    inserts: int = 0
    rows: int = 0

    async def insert_usage(self, records: Sequence[UsageRecord]) -> int:
        if self.stalled:
            await asyncio.Event().wait()  # cancelled by the writer's close
        self.inserts += 1
        self.rows += len(records)
        return await self.store.insert_usage(records)


@dataclass(frozen=True)
class Variant:
    name: str
    limits: bool = False
    store: str | None = None  # "sqlite", "postgresql", or None: usage records dropped
    audit: bool = False
    stalled: bool = False


@dataclass
class Parts:
    """The servers every variant shares: redis-server, and PostgreSQL when it is here."""

    redis: RedisServer
    postgres: PostgresServer | None
    workdir: Path

    def postgres_pid(self) -> int | None:
        if self.postgres is None:
            return None
        return int((self.postgres.data_dir / "postmaster.pid").read_text().split()[0])


def variants(postgres: bool) -> list[Variant]:
    stores = ["sqlite", "postgresql"] if postgres else ["sqlite"]
    chosen = [Variant("bare"), Variant("limits + quota (Redis)", limits=True)]
    for store in stores:
        chosen += [
            Variant(f"usage ({store})", store=store),
            Variant(f"all: limits + quota + usage ({store})", limits=True, store=store),
        ]
    chosen += [
        Variant("all, store stalled", limits=True, store="sqlite", stalled=True),
        Variant("all + audit log (sqlite)", limits=True, store="sqlite", audit=True),
    ]
    return chosen


async def _call(gate: CallGate, caller: Principal, index: int) -> None:
    INGRESS.set(Ingress(new_event_id(), 96, "127.0.0.1", time_ns=time.time_ns()))
    message = Message("request", {}, "tools/call", index, {"name": "s00__echo"})

    async def forward() -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": index, "result": {"content": [{"type": "text"}]}}

    response = await gate.run(caller, message, SUBJECT, forward)
    if "result" not in response:
        raise RuntimeError(f"call {index} refused: {response}")


async def _drive(gate: CallGate, caller: Principal, calls: int, concurrency: int) -> None:
    """`calls` calls from `concurrency` callers."""

    async def caller_loop(offset: int) -> None:
        for index in range(offset, calls, concurrency):
            await _call(gate, caller, index)

    async with asyncio.TaskGroup() as tasks:
        for offset in range(concurrency):
            tasks.create_task(caller_loop(offset))


async def _open_store(variant: Variant, parts: Parts, slot: Path) -> Store:
    if variant.store == "postgresql":
        assert parts.postgres is not None
        url = parts.postgres.url(parts.postgres.create_database())
    else:
        url = f"sqlite+aiosqlite:///{slot / 'giru.db'}"
    return await Store.open(url, pepper=PEPPER)


async def _settle(usage: UsageSinkLike, audit: AuditLog | None, stalled: bool) -> None:
    """Store what was recorded so far (a stalled store: nothing to wait for)."""
    if isinstance(usage, UsageWriter) and not stalled and not await usage.flush(60):
        raise RuntimeError("usage records were not stored within 60 s")
    if audit is not None and not await audit.flush(60):
        raise RuntimeError("audit records were not stored within 60 s")


class _Clock:
    """CPU and wall time of this process, and CPU of the servers, since construction."""

    def __init__(self, parts: Parts) -> None:
        self._pids = [parts.redis.pid, parts.postgres_pid()]
        self._servers = [cpu_seconds(pid) if pid else 0.0 for pid in self._pids]
        self._cpu, self._wall = time.process_time(), time.perf_counter()

    def per_call(self, calls: int) -> dict[str, float | None]:
        cpu = (time.process_time() - self._cpu) / calls * 1e6
        wall = (time.perf_counter() - self._wall) / calls * 1e6
        servers = [
            (cpu_seconds(pid) - before) / calls * 1e6 if pid else None
            for pid, before in zip(self._pids, self._servers, strict=True)
        ]
        return {
            "cpu_us_per_call": round(cpu, 1),
            "wall_us_per_call": round(wall, 1),
            "redis_cpu_us_per_call": round(servers[0], 1) if servers[0] is not None else None,
            "postgres_cpu_us_per_call": round(servers[1], 1) if servers[1] is not None else None,
        }


async def _point(variant: Variant, parts: Parts, calls: int, concurrency: int) -> dict[str, Any]:
    slot = Path(tempfile.mkdtemp(prefix=f"c{concurrency}-", dir=parts.workdir))
    async with contextlib.AsyncExitStack() as stack:
        usage: UsageSinkLike = DroppedUsage()
        sink = audit = None
        if variant.store is not None:
            store = await _open_store(variant, parts, slot)
            stack.push_async_callback(store.aclose)
            sink = CountingSink(store, stalled=variant.stalled)
            usage = await UsageWriter.open(
                sink, slot / "spool", max_bytes=1 << 30, group_commit_ms=0.0, batch_size=100
            )
            stack.push_async_callback(usage.aclose, 0.5)
            if variant.audit:
                audit = await AuditLog.open(store, slot / "audit", metrics=AuditMetrics(None))
                stack.push_async_callback(audit.aclose)
        limiter = RedisLimiter(parts.redis.url(), LimitsSettings(redis_timeout_s=1.0))
        stack.push_async_callback(limiter.aclose)
        gate = CallGate(limiter, usage, node="bench", audit=audit)
        caller = GOVERNED if variant.limits else PLAIN
        await _drive(gate, caller, 200, concurrency)  # warm: connections, scripts, a segment
        await _settle(usage, audit, variant.stalled)
        if sink is not None:
            sink.inserts = sink.rows = 0
        clock = _Clock(parts)
        await _drive(gate, caller, calls, concurrency)
        await _settle(usage, audit, variant.stalled)
        point: dict[str, Any] = {"variant": variant.name, "concurrency": concurrency}
        point |= {"calls": calls, **clock.per_call(calls)}
        point |= {
            "store_inserts": sink.inserts if sink else 0,
            "rows_stored": sink.rows if sink else 0,
        }
        if isinstance(usage, UsageWriter):
            point["spooled_bytes"] = usage.spool.size
        return point


def _added(points: list[dict[str, Any]]) -> None:
    """Each point's CPU µs/call minus the bare gate's at the same concurrency."""
    bare = {p["concurrency"]: p["cpu_us_per_call"] for p in points if p["variant"] == "bare"}
    for point in points:
        point["added_cpu_us_per_call"] = round(
            point["cpu_us_per_call"] - bare[point["concurrency"]], 1
        )


async def _measure(parts: Parts, calls: int, say: Say) -> list[dict[str, Any]]:
    points = []
    for concurrency in CONCURRENCY:
        for variant in variants(parts.postgres is not None):
            point = await _point(variant, parts, calls, concurrency)
            say(
                f"  {variant.name:<44} c={concurrency:<3} {point['cpu_us_per_call']:7.1f} µs "
                f"CPU/call  inserts {point['store_inserts']}"
            )
            points.append(point)
    _added(points)
    return points


def _postgres(workdir: Path) -> PostgresServer | None:
    try:
        bindir = find_postgres_bindir()
    except ServiceUnavailableError:
        return None
    root = Path(tempfile.mkdtemp(prefix="pg-", dir=workdir))  # the postgres user owns it
    os.chmod(workdir, 0o755)  # ... and must reach it
    server = PostgresServer.create(bindir, root)
    server.start()
    return server


def setup_text(calls: int) -> dict[str, Any]:
    return {
        "gate": "giru.proxy.gate.CallGate.run on uvloop in one process, a forward that "
        "answers at once, a task per call; no policy",
        "calls": f"{calls} per point after 200 warm-up calls, concurrency "
        + ", ".join(map(str, CONCURRENCY)),
        "limits": "subscription rate, client rate, per-tool rate, day and month quota, all "
        "generous (every call admitted and counted): one Redis Lua call per call",
        "usage": "UsageWriter: fsync'd spool, group commit (0 ms window), drain batches of 100 "
        "lingering 250 ms; flushed inside the measurement",
        "stores": "embedded SQLite (aiosqlite) in a temp dir; PostgreSQL 15 (fsync off, as the "
        "tests run it) when its binaries are here",
        "CPU": "time.process_time() of the process (every thread) ÷ calls; redis-server and "
        "PostgreSQL (postmaster and backends) counted apart from /proc",
        "cores": "the gate on core 1, redis-server and PostgreSQL on core 0",
    }


def run(calls: int, say: Say = print) -> dict[str, Any]:
    """The scenario: `{"points": [...], "setup": {...}}` (for `python -m bench` too)."""
    workdir = Path(tempfile.mkdtemp(prefix="giru-bench-governance-"))
    placed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, LOAD_CPUS)  # the servers inherit it: on the load core
    redis = start_redis(workdir)
    postgres = None
    try:
        postgres = _postgres(workdir)
        parts = Parts(redis, postgres, workdir)
        os.sched_setaffinity(0, GATEWAY_CPUS)  # the gate alone on the gateway core
        points = uvloop.run(_measure(parts, calls, say))
    finally:
        os.sched_setaffinity(0, placed)
        if postgres is not None:
            postgres.stop()
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return {"points": points, "setup": setup_text(calls)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.governance", description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000, help="calls per point")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "governance")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, LOAD_CPUS)
    machine = describe(None)
    result = run(args.calls)
    written = write_standalone(args.out.resolve(), SCENARIO, machine, result, "governance")
    print(f"wrote {written[0]} and {written[1]}")


if __name__ == "__main__":
    main()
