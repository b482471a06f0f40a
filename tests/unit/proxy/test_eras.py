"""Which upstream era serves a call: the client's own when the upstream speaks it."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from giru.manifests import Config
from giru.manifests.config import ServerConfig
from giru.upstream.base import ClientIdentity, MessageSink, ServerSpec
from tests.unit.proxy.fakes import FakeUpstream, config, gateway_client, tool
from tests.unit.proxy.test_gateway import HEADERS, call, initialize, rpc

MODERN = "2026-07-28"
_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}


class _EraUpstream(FakeUpstream):
    """One era of a server that speaks both: answers in the version it was connected with."""

    def __init__(self, name: str, version: str) -> None:
        super().__init__(name, [tool("echo")])
        self.version = version

    @property
    def protocol_version(self) -> str:
        return self.version


def _dual_era(name: str) -> tuple[Config, dict[str, _EraUpstream], Any]:
    eras = {"legacy": _EraUpstream(name, "2025-11-25"), "modern": _EraUpstream(name, MODERN)}
    cfg = config({name: eras["legacy"]})
    server = ServerConfig(name=name, transport="streamable-http", url="http://127.0.0.1:9/mcp")
    cfg = Config(servers={name: server}, virtual_servers=cfg.virtual_servers, clients=cfg.clients)

    async def connect(
        spec: ServerSpec,
        identity: ClientIdentity,
        *,
        on_unsolicited: MessageSink,
        http: aiohttp.ClientSession,
    ) -> _EraUpstream:
        return eras["modern" if identity.protocol_version == MODERN else "legacy"]

    return cfg, eras, connect


def _calls(upstream: FakeUpstream) -> list[str]:
    return [method for method, _ in upstream.calls if method != "tools/list"]


async def test_legacy_client_is_served_by_the_legacy_session_of_a_dual_era_upstream() -> None:
    cfg, eras, connect = _dual_era("both")
    async with gateway_client({}, cfg=cfg, connect=connect) as (client, _):
        session = await initialize(client)
        body = rpc("tools/call", {"name": "both__echo", "arguments": {}})
        response = await call(client, session, body)
    assert response.status_code == 200, response.text
    assert _calls(eras["legacy"]) == ["tools/call"]
    assert _calls(eras["modern"]) == []


async def test_modern_client_is_served_by_the_modern_era_of_a_dual_era_upstream() -> None:
    cfg, eras, connect = _dual_era("both")
    headers = {
        **HEADERS,
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": "both__echo",
    }
    async with gateway_client({}, cfg=cfg, connect=connect) as (client, _):
        body = rpc("tools/call", {"name": "both__echo", "arguments": {}, "_meta": _META})
        response = await client.post("/mcp", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert "error" not in orjson.loads(response.content), response.text
    assert _calls(eras["modern"]) == ["tools/call"]
    assert _calls(eras["legacy"]) == []
