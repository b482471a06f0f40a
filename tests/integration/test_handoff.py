"""A legacy session outlives its worker: its record in a real Redis, and a second real `giru run`
taking the session over (same client, same endpoint only)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from giru.proxy.handoff import SessionHandoff, SessionRecord
from giru.proxy.sessions import SessionStore
from tests.integration.gateway import (
    CLIENT,
    KEY,
    RunningGiru,
    python_stdio_server,
    run_giru,
)
from tests.services import RedisServer

pytestmark = pytest.mark.integration

LEGACY = "2025-11-25"
OTHER_KEY = "handoff-other-key-0123456789"
OTHER_CLIENT = """
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {name: other}
spec:
  apiKeyEnv: GIRU_OTHER_KEY
  servers: ["*"]
"""


def _session(store: SessionStore, transport: str = "streamable-http") -> Any:
    return store.create(
        owner="alice",
        principal=None,
        endpoint="kit",
        transport=transport,
        protocol_version=LEGACY,
        client_capabilities={"sampling": {}},
        client_info={"name": "c", "version": "1"},
    )


async def test_a_record_round_trips_with_the_session_idle_timeout(redis_url: str) -> None:
    handoff = SessionHandoff(redis_url, ttl_s=120)
    store = SessionStore(idle_timeout_s=120, max_sessions=10, keep_events=0, prefix="w1.")
    session = _session(store)
    session.initialized = True
    session.set_log_level("debug")
    try:
        assert await handoff.save(session)
        record = await handoff.load(session.id)
        assert record == SessionRecord(
            owner="alice",
            endpoint="kit",
            protocol_version=LEGACY,
            client_capabilities={"sampling": {}},
            client_info={"name": "c", "version": "1"},
            initialized=True,
            log_level="debug",
        )
        with redis.Redis.from_url(redis_url) as client:
            ttl_ms = client.pttl(f"giru:session:{session.id}")
        assert 110_000 < ttl_ms <= 120_000
        await handoff.forget(session.id)
        assert await handoff.load(session.id) is None
        sse = _session(store, transport="sse")
        assert not await handoff.save(sse)  # a 2024-11-05 session is its stream
        assert await handoff.load(sse.id) is None
    finally:
        await handoff.aclose()


async def test_redis_down_fails_no_request(redis_server: RedisServer, redis_url: str) -> None:
    handoff = SessionHandoff(redis_url, ttl_s=60, timeout_s=0.2)
    store = SessionStore(idle_timeout_s=60, max_sessions=10, keep_events=0)
    session = _session(store)
    try:
        await asyncio.to_thread(redis_server.stop)
        assert not await handoff.save(session)
        assert await handoff.load(session.id) is None
        await handoff.forget(session.id)  # logged, not raised
    finally:
        await handoff.aclose()
        await asyncio.to_thread(redis_server.start)


@pytest.fixture
def workers(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[RunningGiru, RunningGiru]]:
    shared = {
        "GIRU_DATABASE_URL": postgres_url,
        "GIRU_REDIS_URL": redis_url,
        "GIRU_KEY_PEPPER": "handoff-pepper-0123456789abcdef",
        "GIRU_OTHER_KEY": OTHER_KEY,
    }
    manifests = "---".join([python_stdio_server("kit"), CLIENT, OTHER_CLIENT])
    with ExitStack() as stack:
        first = tmp_path / "w1"
        first.mkdir()
        a = stack.enter_context(
            run_giru(manifests, first, extra_env={**shared, "GIRU_WORKER_NAME": "w1"})
        )
        second = tmp_path / "w2"
        second.mkdir()
        b = stack.enter_context(
            run_giru(None, second, extra_env={**shared, "GIRU_WORKER_NAME": "w2"})
        )
        yield a, b


def _post(
    giru: RunningGiru, message: dict[str, Any], session: str = "", key: str = KEY
) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}", "accept": "application/json, text/event-stream"}
    if session:
        headers |= {"mcp-session-id": session, "mcp-protocol-version": LEGACY}
    return httpx.post(giru.url("/mcp"), json=message, headers=headers, timeout=30)


def _answer(response: httpx.Response) -> dict[str, Any]:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
        decoded: dict[str, Any] = json.loads(data[-1])
        return decoded
    answer: dict[str, Any] = response.json()
    return answer


def _taken_over(giru: RunningGiru) -> float:
    for line in httpx.get(giru.url("/metrics"), timeout=5).text.splitlines():
        if line.startswith("giru_sessions_taken_over_total "):
            return float(line.split()[1])
    return 0.0


def test_another_worker_takes_a_session_over(workers: tuple[RunningGiru, RunningGiru]) -> None:
    a, b = workers
    params = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "t"}}
    hello = _post(a, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})
    assert hello.status_code == 200, hello.text
    session = hello.headers["mcp-session-id"]
    assert session.startswith("w1.")
    note = _post(a, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    assert note.status_code == 202

    # Another client presenting the id gets the spec's 404, and takes nothing over.
    call = {"name": "kit__echo", "arguments": {"text": "on w2"}}
    stolen = _post(
        b, {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call}, session, OTHER_KEY
    )
    assert stolen.status_code == 404
    assert _taken_over(b) == 0

    answered = _post(
        b, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call}, session
    )
    assert answered.status_code == 200, answered.text
    assert _answer(answered)["result"]["content"][0]["text"] == "on w2"
    assert _taken_over(b) == 1
    again = _post(b, {"jsonrpc": "2.0", "id": 3, "method": "ping"}, session)
    assert again.status_code == 200
    assert _taken_over(b) == 1  # taken over once, then held

    # The client ends the session: its record goes, no worker can take it over again.
    headers = {
        "authorization": f"Bearer {KEY}",
        "mcp-session-id": session,
        "mcp-protocol-version": LEGACY,
    }
    assert httpx.delete(b.url("/mcp"), headers=headers, timeout=10).status_code == 200
    gone = _post(b, {"jsonrpc": "2.0", "id": 4, "method": "ping"}, session)
    assert gone.status_code == 404
