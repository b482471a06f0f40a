"""The control plane against a real `giru run`: catalog sync and health through the REST API,
unhealthy servers answered with a clear error without being forgotten, and the seed's
`_giru.prefer_mcp` hint on an unprefixed virtual server offering one tool from two servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.integration.gateway import (
    ADMIN_TOKEN,
    CLIENT,
    KEY,
    RunningGiru,
    http_server,
    python_stdio_server,
    run_giru,
    wait_until,
)
from tests.integration.test_faults import WebUpstream

pytestmark = pytest.mark.integration

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
MCP = {
    "authorization": f"Bearer {KEY}",
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2026-07-28",
}
META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}
FAST_HEALTH = {
    "GIRU_CATALOG__HEALTH_INTERVAL_S": "0.2",
    "GIRU_CATALOG__HEALTH_TIMEOUT_S": "0.5",
    "GIRU_CATALOG__UNHEALTHY_AFTER": "2",
}


def _modern(giru: RunningGiru, method: str, params: dict[str, Any], path: str = "/mcp") -> Any:
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": {**params, "_meta": META}}
    headers = {**MCP, "mcp-method": method}
    if "name" in params:
        headers["mcp-name"] = params["name"]
    response = httpx.post(giru.url(path), content=orjson.dumps(body), headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebUpstream]:
    upstream = WebUpstream(tmp_path / "web-ledger.jsonl")
    try:
        yield upstream
    finally:
        upstream.close()


def test_unhealthy_server_keeps_its_tools_and_fails_calls_clearly(
    web: WebUpstream, tmp_path: Path
) -> None:
    manifests = "---".join([http_server("web", "streamable-http", web.url), CLIENT])
    with run_giru(manifests, tmp_path, extra_env=FAST_HEALTH) as giru:
        server = giru.url("/api/v1/servers/web")
        wait_until(
            lambda: httpx.get(server, headers=ADMIN).json()["status"]["health"] == "healthy",
            "healthy",
        )
        synced = httpx.post(giru.url("/api/v1/servers/web/sync"), headers=ADMIN, timeout=10)
        assert synced.status_code == 200, synced.text
        assert synced.json()["tools"] == 5
        catalog = httpx.get(giru.url("/api/v1/tools"), params={"server": "web"}, headers=ADMIN)
        assert {t["name"] for t in catalog.json()["items"]} >= {"echo", "hang"}

        web.stop()  # the port keeps accepting connections that nobody answers
        wait_until(
            lambda: httpx.get(server, headers=ADMIN).json()["status"]["health"] == "unhealthy",
            "unhealthy",
        )
        listed = _modern(giru, "tools/list", {})["result"]["tools"]
        assert "web__echo" in {t["name"] for t in listed}  # not forgotten
        error = _modern(giru, "tools/call", {"name": "web__echo", "arguments": {"text": "x"}})[
            "error"
        ]
        assert error["data"] == {
            "reason": "upstream_unavailable",
            "server": "web",
            "health": "unhealthy",
        }
        assert "unhealthy" in error["message"]
        metrics = httpx.get(giru.url("/metrics")).text
        assert 'giru_upstream_up{server="web"} 0.0' in metrics
        failed = httpx.post(giru.url("/api/v1/servers/web/sync"), headers=ADMIN, timeout=30)
        assert failed.status_code == 503
        assert failed.json()["code"] == "upstream_unavailable"

        web.restart()
        wait_until(
            lambda: httpx.get(server, headers=ADMIN).json()["status"]["health"] == "healthy",
            "healed",
        )
        answer = _modern(giru, "tools/call", {"name": "web__echo", "arguments": {"text": "back"}})
        assert answer["result"]["content"][0]["text"] == "back"


def _ledger_calls(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["name"] for line in path.read_text().splitlines()]


def test_prefer_mcp_picks_the_server_on_an_unprefixed_virtual_server(tmp_path: Path) -> None:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    both = """
apiVersion: giru.ai/v1alpha1
kind: VirtualServer
metadata: {name: both}
spec: {servers: [first, second], prefix: false}
"""
    manifests = "---".join(
        [
            python_stdio_server("first", "ledger.py", str(first)),
            python_stdio_server("second", "ledger.py", str(second)),
            CLIENT,
            both,
        ]
    )
    with run_giru(manifests, tmp_path) as giru:
        call = {"name": "touch", "arguments": {"text": "hi"}}
        plain = _modern(giru, "tools/call", call, "/mcp/both")
        assert plain["result"]["content"][0]["text"] == "hi"
        assert (_ledger_calls(first), _ledger_calls(second)) == (["touch"], [])

        hinted = _modern(
            giru, "tools/call", {**call, "_giru": {"prefer_mcp": "second"}}, "/mcp/both"
        )
        assert hinted["result"]["content"][0]["text"] == "hi"
        assert (_ledger_calls(first), _ledger_calls(second)) == (["touch"], ["touch"])

        nowhere = _modern(
            giru, "tools/call", {**call, "_giru": {"prefer_mcp": "third"}}, "/mcp/both"
        )
        assert nowhere["error"]["code"] == -32602
        assert (_ledger_calls(first), _ledger_calls(second)) == (["touch"], ["touch"])
