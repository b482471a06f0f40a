"""In-process fake upstreams for unit tests of the data path (real peers live in integration/)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from giru.access.clients import ClientDirectory
from giru.egress import UPSTREAMS
from giru.egress.lean import LeanClient
from giru.errors import UpstreamUnavailableError
from giru.manifests import Config
from giru.manifests.config import ClientConfig, ServerConfig, VirtualServerConfig
from giru.mcp.jsonrpc import dumps
from giru.proxy.envelopes import envelope_key
from giru.proxy.gateway import Gateway
from giru.proxy.upstreams import Connector, UpstreamPool
from giru.runtime import build_endpoints
from giru.settings import Settings
from giru.telemetry.metrics import Metrics
from giru.upstream.base import ClientIdentity, MessageSink, ServerSpec

KEY = "test-key-alpha"
OTHER_KEY = "test-key-beta"


def tool(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "inputSchema": {"type": "object"}, **extra}


@dataclass
class FakeUpstream:
    """An upstream server: a tool table; `echo` echoes, `progress` reports, `sample` asks."""

    name: str
    tools: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    """The extra HTTP headers of each request (what an HTTP upstream would have been sent)."""
    fail: bool = False
    broken: bool = False
    """Raise what no connector should (a bug inside Giru) on tools/call."""

    @property
    def server(self) -> str:
        return self.name

    @property
    def protocol_version(self) -> str:
        return "2025-11-25"

    @property
    def initialize_result(self) -> dict[str, Any]:
        return {"capabilities": {"tools": {}}, "serverInfo": {"name": self.name, "version": "1"}}

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None,
        *,
        on_message: MessageSink | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the UpstreamSession signature
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        self.calls.append((method, params))
        self.headers.append(dict(headers or {}))
        if self.fail:
            raise UpstreamUnavailableError(self.name, "connection reset")
        if method == "tools/list":
            return {"jsonrpc": "2.0", "id": 1, "result": {"tools": self.tools}}
        if self.broken:
            raise RuntimeError("a bug")
        assert params is not None
        name = params["name"]
        if name == "progress" and on_message is not None:
            token = params["_meta"]["progressToken"]
            await on_message(
                {
                    "jsonrpc": "2.0",
                    "method": "notifications/progress",
                    "params": {"progressToken": token, "progress": 1, "total": 2},
                }
            )
        if name == "sample" and on_message is not None:
            answer = await on_message(
                {"jsonrpc": "2.0", "id": 99, "method": "sampling/createMessage", "params": {}}
            )
            assert answer is not None
            text = answer["result"]["content"]["text"]
            return _text(f"sampled: {text}")
        return _text(f"{self.name}:{name}:{dumps(params.get('arguments')).decode()}")

    async def notify(self, method: str, params: dict[str, Any] | None) -> None:
        return None

    async def aclose(self) -> None:
        return None


def _text(text: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": text}]}}


def config(servers: dict[str, FakeUpstream], **vs: VirtualServerConfig) -> Config:
    return Config(
        servers={
            name: ServerConfig(name=name, transport="stdio", command="/bin/true")
            for name in servers
        },
        virtual_servers=vs,
        clients={
            "alpha": ClientConfig(name="alpha", api_key_hash=_sha(KEY), servers=("*",)),
            "beta": ClientConfig(name="beta", api_key_hash=_sha(OTHER_KEY), tools=("one__echo",)),
        },
    )


def _sha(key: str) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


@asynccontextmanager
async def gateway_client(
    upstreams: dict[str, FakeUpstream],
    *,
    cfg: Config | None = None,
    tune: Callable[[Settings], None] | None = None,
    connect: Connector | None = None,
) -> AsyncIterator[tuple[httpx.AsyncClient, Gateway]]:
    """A Gateway over fake upstreams, with an httpx client speaking ASGI to it (`connect`
    replaces the one-fake-per-server connector)."""
    cfg = cfg or config(upstreams)
    settings = Settings(listen="127.0.0.1:8080")
    if tune is not None:
        tune(settings)

    async def connector(
        spec: ServerSpec,
        identity: ClientIdentity,
        *,
        on_unsolicited: MessageSink,
        http: LeanClient,
    ) -> FakeUpstream:
        return upstreams[spec.name]

    async def no_list_changed(server: str, method: str) -> None:
        return None

    async with LeanClient(UPSTREAMS) as http:
        pool = UpstreamPool(
            cfg.server_specs(),
            http=http,
            metrics=(metrics := Metrics()),
            on_list_changed=no_list_changed,
            connector=connect or connector,
        )
        gateway = Gateway(
            settings=settings,
            pool=pool,
            metrics=metrics,
            authenticator=ClientDirectory.from_config(cfg),
            endpoints=build_endpoints(cfg),
            sealing_key=envelope_key(b"unit-test-node-secret"),
        )
        await gateway.catalogs.refresh_all()
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as c:
            yield c, gateway
        await gateway.aclose()
