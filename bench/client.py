"""The asyncio load client (aiohttp, keep-alive pool): MCP sessions, open-loop rate runs."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

__all__ = [
    "Caller",
    "Endpoint",
    "RateResult",
    "close_sessions",
    "initialize",
    "open_sessions",
    "rate_run",
    "stats",
]

PROTOCOL = "2025-06-18"
_BASE_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
}


@dataclass(frozen=True)
class Endpoint:
    """An MCP endpoint as a client sees it: URL, bearer token, the echo tool's name there."""

    name: str
    url: str
    token: str | None
    echo_tool: str
    stateful: bool = True

    def headers(self, session_id: str | None = None) -> dict[str, str]:
        headers = dict(_BASE_HEADERS)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if session_id:
            headers["Mcp-Session-Id"] = session_id
            headers["MCP-Protocol-Version"] = PROTOCOL
        return headers


async def _post(
    http: aiohttp.ClientSession, endpoint: Endpoint, body: dict[str, Any], sid: str | None
) -> tuple[int, bytes, str | None]:
    async with http.post(endpoint.url, data=orjson.dumps(body), headers=endpoint.headers(sid)) as r:
        return r.status, await r.read(), r.headers.get("Mcp-Session-Id")


async def initialize(http: aiohttp.ClientSession, endpoint: Endpoint) -> str | None:
    """initialize + notifications/initialized; returns the session id (None when stateless)."""
    params = {
        "protocolVersion": PROTOCOL,
        "capabilities": {},
        "clientInfo": {"name": "giru-bench", "version": "1"},
    }
    status, body, sid = await _post(
        http, endpoint, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}, None
    )
    if status != 200 or b'"result"' not in body:
        raise RuntimeError(f"{endpoint.name}: initialize failed: HTTP {status} {body[:300]!r}")
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    status, body, _ = await _post(http, endpoint, note, sid)
    if status not in (200, 202):
        raise RuntimeError(f"{endpoint.name}: initialized failed: HTTP {status} {body[:300]!r}")
    return sid


async def open_sessions(endpoint: Endpoint, count: int, concurrency: int = 16) -> list[str]:
    """Open `count` initialized sessions and leave them idle; returns their ids."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    opened: list[str] = []
    async with aiohttp.ClientSession(connector=connector) as http:
        todo = iter(range(count))

        async def worker() -> None:
            for _ in todo:
                sid = await initialize(http, endpoint)
                if sid is not None:
                    opened.append(sid)

        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(worker())
    return opened


async def close_sessions(endpoint: Endpoint, session_ids: list[str], concurrency: int = 16) -> None:
    """DELETE each session (so idle ones do not linger into the load scenarios)."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(sid: str) -> None:
            async with gate, http.delete(endpoint.url, headers=endpoint.headers(sid)) as response:
                await response.read()

        async with asyncio.TaskGroup() as group:
            for sid in session_ids:
                group.create_task(one(sid))


@dataclass
class RateResult:
    target_rps: float
    achieved_rps: float
    requests: int
    errors: int
    latencies_us: list[float] = field(repr=False)


def stats(latencies_us: list[float]) -> dict[str, float]:
    """p50/p90/p99/p99.9/mean/max of a latency sample (µs), nearest-rank."""
    if not latencies_us:
        return {}
    ordered = sorted(latencies_us)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1)

    return {
        "p50_us": pct(50),
        "p90_us": pct(90),
        "p99_us": pct(99),
        "p999_us": pct(99.9),
        "mean_us": round(sum(ordered) / len(ordered), 1),
        "max_us": round(ordered[-1], 1),
    }


async def open_loop(
    count: int,
    rps: float,
    one: Callable[[float], Coroutine[Any, Any, None]],
    gate: asyncio.Semaphore | None = None,
) -> float:
    """Start `one(due)` for call i at due = start + i/rps whatever happened before (no
    coordinated omission), after acquiring `gate` when given (`one` releases it); return when
    all have finished. The start time (perf_counter)."""
    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for i in range(count):
            due = started + i / rps
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if gate is not None:
                await gate.acquire()
            group.create_task(one(due))
    return started


async def rate_run(
    endpoint: Endpoint, rps: float, seconds: float, *, max_inflight: int = 256
) -> RateResult:
    """Open loop: request i is due at start + i/rps whatever happened before (no coordinated
    omission); latency counts from the due time. In-flight requests are capped at `max_inflight`
    so a saturated target shows up as lost throughput and huge latency, not as a memory blowup."""
    connector = aiohttp.TCPConnector(limit=64)
    timeout = aiohttp.ClientTimeout(total=30)
    latencies: list[float] = []
    errors = 0
    ids = itertools.count(1)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        sid = await initialize(http, endpoint) if endpoint.stateful else None
        gate = asyncio.Semaphore(max_inflight)

        async def one(due: float) -> None:
            nonlocal errors
            body = {
                "jsonrpc": "2.0",
                "id": next(ids),
                "method": "tools/call",
                "params": {"name": endpoint.echo_tool, "arguments": {"text": "hello"}},
            }
            try:
                status, payload, _ = await _post(http, endpoint, body, sid)
                ok = status == 200 and b'"result"' in payload
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            finally:
                gate.release()
            if ok:
                latencies.append((time.perf_counter() - due) * 1e6)
            else:
                errors += 1

        total = int(rps * seconds)
        started = await open_loop(total, rps, one, gate)
        elapsed = time.perf_counter() - started
    return RateResult(rps, round(len(latencies) / elapsed, 1), total, errors, latencies)


_STATELESS = "2026-07-28"
_STATELESS_BODY = orjson.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": "s00__echo",
            "arguments": {"text": "bench"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": _STATELESS,
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
)


class Caller:
    """2026-07-28 stateless tools/calls of `s00__echo` (no session) with one bearer credential,
    over `concurrency` keep-alive connections kept open between blocks (`async with`)."""

    def __init__(self, url: str, credential: str, concurrency: int) -> None:
        self.url = url
        self.concurrency = concurrency
        self.headers = {
            **_BASE_HEADERS,
            "mcp-protocol-version": _STATELESS,
            "mcp-method": "tools/call",
            "mcp-name": "s00__echo",
            "authorization": f"Bearer {credential}",
        }
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Caller:
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        self._http = aiohttp.ClientSession(connector=connector)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._http is not None:
            await self._http.close()

    async def _one(self) -> None:
        assert self._http is not None
        async with self._http.post(self.url, data=_STATELESS_BODY, headers=self.headers) as reply:
            body = await reply.read()
            if reply.status != 200 or b'"isError":true' in body or b"error" in body:
                raise RuntimeError(f"tools/call answered {reply.status}: {body[:300]!r}")

    async def calls(self, calls: int) -> float:
        """`calls` tools/calls (split over the connections); the wall seconds they took. An
        answer that is not a 200 with a result raises."""
        share = calls // self.concurrency

        async def loop() -> None:
            for _ in range(share):
                await self._one()

        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(self.concurrency):
                group.create_task(loop())
        return time.perf_counter() - started

    async def paced(self, calls: int, rps: float) -> list[float]:
        """Open loop: call i is sent at start + i/rps whatever happened before (up to
        `concurrency` in flight); each call's latency from that time, µs."""
        latencies: list[float] = []

        async def one(due: float) -> None:
            await self._one()
            latencies.append((time.perf_counter() - due) * 1e6)

        await open_loop(calls, rps, one)
        return latencies
