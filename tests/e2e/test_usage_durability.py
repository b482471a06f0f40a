"""FAULTS "nothing lost" (docs/operations/faults.md, 4.3) for usage records, end to end.

5,000 tools/calls at 100 a second through a real `giru run` on a real PostgreSQL. The worker is
killed with SIGKILL once (and started again on the same spool), and PostgreSQL is stopped for
30 s while the calls go on. Afterwards the usage table holds exactly one record for every call a
client saw succeed (matched by the `Giru-Request-Id` it was answered with), no duplicates, and
no more extra records than there were calls left without an answer by the kill.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.e2e.calls import tool_call
from tests.integration.gateway import RunningGiru, python_stdio_server, run_giru
from tests.services import PostgresServer

pytestmark = pytest.mark.integration

KEY = "giru_usage-e2e-key-0123456789abcdef"
CALLS = 5_000
RATE = 100.0  # calls a second
KILL_AT, PG_DOWN_AT, PG_DOWN_S = 1_000, 2_000, 30.0


def _manifests() -> str:
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    return "---".join(
        [
            python_stdio_server("kit"),
            f"""
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {{name: loader}}
spec: {{apiKeyHash: "sha256:{digest}"}}
""",
            """
apiVersion: giru.ai/v1alpha1
kind: Subscription
metadata: {name: loader-kit}
spec: {client: loader, server: kit, scopeType: all, rateLimitRps: 100000, quotaPerDay: 1000000}
""",
        ]
    )


class Load:
    """Paced calls; which were answered with success, and how many got no answer at all."""

    def __init__(self) -> None:
        self.target = ""
        self.succeeded: list[str] = []
        self.unanswered = 0
        self.refused = 0
        self.sent = 0

    async def one(self, http: httpx.AsyncClient, n: int) -> None:
        body, headers = tool_call(KEY, "kit__echo", {"text": str(n)}, n)
        try:
            response = await http.post(self.target, content=body, headers=headers)
        except httpx.HTTPError:
            self.unanswered += 1
            return
        answer = response.json()
        if response.status_code == 200 and "result" in answer:
            self.succeeded.append(response.headers["giru-request-id"])
        else:
            self.refused += 1


async def _run(load: Load, gate: asyncio.Event) -> None:
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=30) as http, asyncio.TaskGroup() as tasks:
        for n in range(CALLS):
            await asyncio.sleep(max(0.0, started + n / RATE - time.monotonic()))
            await gate.wait()  # paused only while the killed worker is being replaced
            load.sent += 1
            tasks.create_task(load.one(http, n))


async def _rows(url: str) -> list[tuple[str, str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT event_id, outcome FROM usage_records"))
            return [(str(row[0]), str(row[1])) for row in rows]
    finally:
        await engine.dispose()


def test_every_successful_call_is_metered_once_through_sigkill_and_a_database_outage(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    env = {"GIRU_DATABASE_URL": postgres_url, "GIRU_KEY_PEPPER": "usage-pepper-0123456789"}
    asyncio.run(_scenario(postgres_server, postgres_url, tmp_path, env))


async def _scenario(postgres: PostgresServer, url: str, workdir: Path, env: dict[str, str]) -> None:
    load, gate = Load(), asyncio.Event()
    with ExitStack() as stack:
        giru = stack.enter_context(run_giru(_manifests(), workdir, extra_env=env))
        load.target = giru.url("/mcp")
        gate.set()
        runner = asyncio.get_running_loop().create_task(_run(load, gate))
        await _until(lambda: load.sent >= KILL_AT)
        gate.clear()
        os.killpg(giru.process.pid, signal.SIGKILL)  # no shutdown, no flush
        giru.process.wait(timeout=10)
        await asyncio.sleep(0.5)  # let the calls in flight fail
        again: RunningGiru = stack.enter_context(run_giru(_manifests(), workdir, extra_env=env))
        load.target = again.url("/mcp")
        gate.set()
        await _until(lambda: load.sent >= PG_DOWN_AT)
        await asyncio.to_thread(postgres.stop, mode="immediate")
        try:
            await asyncio.sleep(PG_DOWN_S)
        finally:
            await asyncio.to_thread(postgres.start)
        await runner
        await _until_metered(url, load)
    rows = await _rows(url)
    ids = [event_id for event_id, _ in rows]
    ok = {event_id for event_id, outcome in rows if outcome == "ok"}
    print(
        f"sent {load.sent}, succeeded {len(load.succeeded)}, unanswered {load.unanswered}, "
        f"refused {load.refused}; usage rows {len(rows)} ({len(ok)} ok)"
    )
    assert len(ids) == len(set(ids)), "a usage record is duplicated"
    assert set(load.succeeded) <= ok, "a call the client saw succeed was not metered"
    assert len(ok - set(load.succeeded)) <= load.unanswered
    assert len(load.succeeded) + load.unanswered + load.refused == CALLS


async def _until(condition: Callable[[], bool], limit_s: float = 120.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the load did not get there in time")
        await asyncio.sleep(0.02)


async def _until_metered(url: str, load: Load, limit_s: float = 120.0) -> None:
    """Until every success is in the table (the drain catches up after the outage)."""
    deadline = time.monotonic() + limit_s
    wanted = set(load.succeeded)
    while time.monotonic() < deadline:
        stored = {event_id for event_id, _ in await _rows(url)}
        if wanted <= stored:
            return
        await asyncio.sleep(0.5)
