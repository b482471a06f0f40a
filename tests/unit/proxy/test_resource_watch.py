"""Resource subscriptions kept by Giru: updates reach the sessions that subscribed, and a
2026-07-28 upstream (no resources/subscribe) is asked on its listen stream instead."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from giru.manifests import Config
from giru.manifests.config import ServerConfig
from giru.proxy.resource_watch import ResourceWatch
from giru.proxy.upstreams import Owner
from giru.upstream.base import ClientIdentity, MessageSink, ServerSpec
from tests.unit.proxy.fakes import FakeUpstream, config, gateway_client
from tests.unit.proxy.test_gateway import call, initialize, rpc

URI = "file:///srv/report.txt"


def _owner(name: str, heard: list[tuple[str, dict[str, Any]]]) -> Owner:
    async def sink(message: dict[str, Any]) -> dict[str, Any] | None:
        heard.append((name, message))
        return None

    return Owner(name, ClientIdentity(capabilities={}), sink)


def _heard() -> list[tuple[str, dict[str, Any]]]:
    return []


def _updated(uri: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": uri}}


async def test_an_update_reaches_only_the_sessions_that_subscribed_to_that_resource() -> None:
    watch, heard = ResourceWatch(), _heard()
    watch.add("files", URI, _owner("a", heard))
    watch.add("files", "file:///srv/other.txt", _owner("b", heard))
    watch.add("mail", URI, _owner("c", heard))
    await watch.deliver("files", _updated(URI))
    assert [name for name, _ in heard] == ["a"]


async def test_an_update_of_a_part_of_a_subscribed_resource_reaches_its_subscriber() -> None:
    watch, heard = ResourceWatch(), _heard()
    watch.add("files", "file:///srv/", _owner("a", heard))
    await watch.deliver("files", _updated(URI))
    assert heard == [("a", _updated(URI))]


async def test_an_ended_session_is_forgotten_and_its_server_named() -> None:
    watch, heard = ResourceWatch(), _heard()
    watch.add("files", URI, _owner("a", heard))
    watch.add("files", URI, _owner("b", heard))
    assert watch.forget("a") == {"files"}
    assert watch.uris("files") == {URI}
    watch.remove("files", URI, "b")
    assert watch.uris("files") == frozenset()
    await watch.deliver("files", _updated(URI))
    assert heard == []


class _Resources(FakeUpstream):
    """A server with one resource, in the era it was connected with."""

    def __init__(self, name: str, version: str) -> None:
        super().__init__(name, [])
        self.version = version
        self.watched: list[frozenset[str]] = []

    @property
    def protocol_version(self) -> str:
        return self.version

    @property
    def initialize_result(self) -> dict[str, Any]:
        return {"capabilities": {"resources": {"subscribe": True}}, "serverInfo": {"name": "f"}}

    async def request(self, method: str, params: dict[str, Any] | None, **kw: Any) -> Any:
        self.calls.append((method, params))
        if method == "resources/list":
            return {"jsonrpc": "2.0", "id": 1, "result": {"resources": [{"uri": URI, "name": "r"}]}}
        if method == "resources/templates/list":
            return {"jsonrpc": "2.0", "id": 1, "result": {"resourceTemplates": []}}
        return {"jsonrpc": "2.0", "id": 1, "result": {}}


class _ModernOnly(_Resources):
    async def watch_resources(self, uris: frozenset[str]) -> bool:
        self.watched.append(uris)
        return True


def _served_by(upstream: _Resources) -> tuple[Config, Any]:
    cfg = config({"files": upstream})
    server = ServerConfig(name="files", transport="streamable-http", url="http://127.0.0.1:9/mcp")
    cfg = Config(
        servers={"files": server}, virtual_servers=cfg.virtual_servers, clients=cfg.clients
    )

    async def connect(
        spec: ServerSpec,
        identity: ClientIdentity,
        *,
        on_unsolicited: MessageSink,
        http: aiohttp.ClientSession,
    ) -> _Resources:
        return upstream

    return cfg, connect


async def test_a_modern_only_upstream_is_asked_on_its_listen_stream_and_giru_answers() -> None:
    upstream = _ModernOnly("files", "2026-07-28")
    cfg, connect = _served_by(upstream)
    async with gateway_client({}, cfg=cfg, connect=connect) as (client, _):
        session = await initialize(client)
        subscribed = await call(client, session, rpc("resources/subscribe", {"uri": URI}, id=2))
        assert orjson.loads(subscribed.content) == {"jsonrpc": "2.0", "id": 2, "result": {}}
        assert upstream.watched[-1] == {URI}
        await call(client, session, rpc("resources/unsubscribe", {"uri": URI}, id=3))
        assert upstream.watched[-1] == frozenset()
    assert "resources/subscribe" not in [method for method, _ in upstream.calls]


async def test_a_legacy_upstream_takes_the_subscription_itself() -> None:
    upstream = _Resources("files", "2025-11-25")
    cfg, connect = _served_by(upstream)
    async with gateway_client({}, cfg=cfg, connect=connect) as (client, gateway):
        session = await initialize(client)
        await call(client, session, rpc("resources/subscribe", {"uri": URI}, id=2))
        assert ("resources/subscribe", {"uri": URI}) in upstream.calls
        assert gateway.pool.watch.uris("files") == {URI}
