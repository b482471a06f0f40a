"""FAULTS "PostgreSQL down" and "Redis down" (docs/operations/faults.md, 4.2) for the control
plane, with a real `giru run`.

The data path never reads the database per request: while PostgreSQL is stopped, MCP calls keep
working on the last compiled configuration, the REST API answers 503 `store_unavailable` (never a
500 or a hang), and once PostgreSQL is back a change made through the API reaches the data path.
With Redis stopped, changes still reach the worker that made them at once and the others through
the revision poll.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from giru.access import sha256_hash
from tests.integration.gateway import (
    ADMIN_TOKEN,
    CLIENT,
    KEY,
    python_stdio_server,
    run_giru,
    wait_until,
)
from tests.services import PostgresServer, RedisServer

pytestmark = pytest.mark.integration

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}", "content-type": "application/json"}
MODERN = "2026-07-28"
NARROW_KEY = "giru_narrow-fault-key-0123456789abcdef"


def _tools(base: str, key: str = KEY) -> set[str]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}}
    headers = {
        "authorization": f"Bearer {key}",
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/list",
    }
    response = httpx.post(f"{base}/mcp", content=orjson.dumps(body), headers=headers, timeout=10)
    if response.status_code == 401:
        return set()
    assert response.status_code == 200, response.text
    return {tool["name"] for tool in response.json()["result"]["tools"]}


def _serves_narrow(base: str) -> Callable[[], bool]:
    return lambda: _tools(base, NARROW_KEY) == {"kit__echo"}


def _server(name: str) -> dict[str, Any]:
    spec = {"transport": "streamable-http", "url": "http://127.0.0.1:9/mcp", "enabled": False}
    return {"metadata": {"name": name}, "spec": spec}


def test_postgres_down_keeps_the_data_path_and_fails_the_api_cleanly(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    env = {"GIRU_DATABASE_URL": postgres_url, "GIRU_KEY_PEPPER": "fault-pepper-0123456789"}
    manifests = "---".join([python_stdio_server("kit"), CLIENT])
    with run_giru(manifests, tmp_path, extra_env=env) as giru:
        assert "kit__echo" in _tools(giru.base)
        postgres_server.stop(mode="immediate")
        try:
            assert "kit__echo" in _tools(giru.base)  # served from the compiled config
            down = httpx.get(giru.url("/api/v1/servers"), headers=ADMIN, timeout=30)
            assert down.status_code == 503, down.text
            assert down.headers["content-type"] == "application/problem+json"
            assert down.json()["code"] == "store_unavailable"
            write = httpx.post(
                giru.url("/api/v1/servers"), headers=ADMIN, json=_server("late"), timeout=30
            )
            assert write.status_code == 503
            assert "kit__echo" in _tools(giru.base)
        finally:
            postgres_server.start()
        wait_until(
            lambda: httpx.get(giru.url("/api/v1/servers"), headers=ADMIN).status_code == 200,
            "the API recovers",
        )
        created = httpx.post(giru.url("/api/v1/servers"), headers=ADMIN, json=_server("late"))
        assert created.status_code == 201, created.text
        names = {
            i["metadata"]["name"]
            for i in httpx.get(giru.url("/api/v1/servers"), headers=ADMIN).json()["items"]
        }
        assert names == {"kit", "late"}  # the refused write left nothing behind


def test_redis_down_changes_still_reach_every_worker(
    postgres_url: str, redis_server: RedisServer, redis_url: str, tmp_path: Path
) -> None:
    env = {
        "GIRU_DATABASE_URL": postgres_url,
        "GIRU_REDIS_URL": redis_url,
        "GIRU_KEY_PEPPER": "fault-pepper-0123456789",
        "GIRU_STORE_POLL_S": "0.5",
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        run_giru(
            "---".join([python_stdio_server("kit"), CLIENT]), tmp_path / "a", extra_env=env
        ) as first,
        run_giru(None, tmp_path / "b", extra_env=env) as second,
    ):
        wait_until(lambda: "kit__echo" in _tools(second.base), "the second worker sees kit")
        redis_server.stop(kill=True)
        try:
            narrow = {
                "metadata": {"name": "narrow"},
                "spec": {"apiKeyHash": sha256_hash(NARROW_KEY), "tools": ["kit__echo"]},
            }
            created = httpx.post(first.url("/api/v1/clients"), headers=ADMIN, json=narrow)
            assert created.status_code == 201, created.text
            for worker in (first, second):  # the second one learns it from the revision poll
                wait_until(_serves_narrow(worker.base), f"{worker.base} serves the new client")
        finally:
            redis_server.start()
