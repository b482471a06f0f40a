"""`discovery: search` through the gateway over fake upstreams: what tools/list offers, what a
search finds for whom, and that found tools are called by their listed names."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from giru.catalog.search import LazyIndex, ToolSearch, document_of
from giru.catalog.snapshot import ServerCatalog
from giru.catalog.views import build_view
from giru.manifests.config import VirtualServerConfig
from giru.manifests.discovery import SearchConfig
from giru.mcp.jsonrpc import JsonRpcError
from giru.proxy.discovery import SEARCH_TOOL, search_result
from tests.unit.proxy.fakes import OTHER_KEY, FakeUpstream, config, gateway_client, tool
from tests.unit.proxy.test_gateway import HEADERS, call, initialize, rpc

MODERN = "2026-07-28"
_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}


def upstreams() -> dict[str, FakeUpstream]:
    return {
        "one": FakeUpstream(
            "one",
            [
                tool("echo", description="Echo the text back"),
                tool("weather", description="Forecast the weather for a city"),
            ],
        ),
        "two": FakeUpstream(
            "two",
            [
                tool("echo", description="Repeat a message back"),
                tool("send_mail", description="Send an email message to a person"),
            ],
        ),
    }


def searching(always: tuple[str, ...] = ("one__echo",), limit: int = 8) -> VirtualServerConfig:
    search = SearchConfig(always_list=frozenset(always), limit=limit)
    return VirtualServerConfig(name="find", servers=("one", "two"), search=search)


def search_call(query: str, id: int = 1, **extra: Any) -> bytes:
    arguments = {"query": query, **extra}
    return rpc("tools/call", {"name": SEARCH_TOOL, "arguments": arguments}, id)


def found(response: httpx.Response) -> list[str]:
    result = response.json()["result"]
    assert orjson.loads(result["content"][0]["text"]) == result["structuredContent"]
    return [t["name"] for t in result["structuredContent"]["tools"]]


async def test_tools_list_offers_search_tools_and_the_always_listed_tools_only() -> None:
    servers = upstreams()
    async with gateway_client(servers, cfg=config(servers, find=searching())) as (client, _):
        session = await initialize(client, "/mcp/find")
        listed = await call(client, session, rpc("tools/list"), path="/mcp/find")
        tools = listed.json()["result"]["tools"]
        assert [t["name"] for t in tools] == [SEARCH_TOOL, "one__echo"]
        assert tools[0]["inputSchema"]["required"] == ["query"]
        assert tools[0]["outputSchema"]["required"] == ["tools"]


async def test_a_found_tool_is_called_by_its_listed_name() -> None:
    servers = upstreams()
    async with gateway_client(servers, cfg=config(servers, find=searching())) as (client, _):
        session = await initialize(client, "/mcp/find")
        response = await call(client, session, search_call("email someone"), path="/mcp/find")
        assert found(response) == ["two__send_mail"]
        definition = response.json()["result"]["structuredContent"]["tools"][0]
        assert definition["description"] == "Send an email message to a person"
        assert definition["inputSchema"] == {"type": "object"}
        body = rpc("tools/call", {"name": "two__send_mail", "arguments": {"to": "a"}}, 2)
        called = await call(client, session, body, path="/mcp/find")
        assert called.json()["result"]["content"][0]["text"] == 'two:send_mail:{"to":"a"}'


async def test_the_limit_caps_the_answer_and_the_best_match_comes_first() -> None:
    servers = upstreams()
    cfg = config(servers, find=searching(limit=1))
    async with gateway_client(servers, cfg=cfg) as (client, _):
        session = await initialize(client, "/mcp/find")
        one = await call(client, session, search_call("echo back"), path="/mcp/find")
        assert found(one) == ["one__echo"]
        two = await call(client, session, search_call("echo back", 2, limit=5), path="/mcp/find")
        assert found(two) == ["one__echo", "two__echo"]


async def test_a_search_never_finds_a_tool_the_client_may_not_use() -> None:
    servers = upstreams()  # the client "beta" may use one__echo only
    async with gateway_client(servers, cfg=config(servers, find=searching())) as (client, _):
        session = await initialize(client, "/mcp/find", key=OTHER_KEY)
        queries = ("send an email message", "weather forecast", "echo back")
        for id, query in enumerate(queries):
            body = search_call(query, id)
            response = await call(client, session, body, path="/mcp/find", key=OTHER_KEY)
            assert set(found(response)) <= {"one__echo"}, query


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"query": ""},
        {"query": "x" * 513},
        {"query": "a", "limit": 0},
        {"query": "a", "limit": True},
        {"query": "a", "limit": 51},
        {"query": "a", "other": 1},
    ],
)
async def test_bad_search_arguments_are_invalid_params(arguments: dict[str, Any]) -> None:
    servers = upstreams()
    async with gateway_client(servers, cfg=config(servers, find=searching())) as (client, _):
        session = await initialize(client, "/mcp/find")
        body = rpc("tools/call", {"name": SEARCH_TOOL, "arguments": arguments})
        response = await call(client, session, body, path="/mcp/find")
        assert response.json()["error"]["code"] == -32602


async def test_search_tools_is_not_a_tool_on_an_endpoint_that_lists_everything() -> None:
    servers = upstreams()
    async with gateway_client(servers) as (client, _):
        session = await initialize(client)
        response = await call(client, session, search_call("echo"))
        assert response.json()["error"]["message"] == f"Unknown tool: {SEARCH_TOOL}"


async def test_a_modern_client_searches_and_calls_without_a_session() -> None:
    servers = upstreams()
    cfg = config(servers, find=searching())

    def modern(name: str) -> dict[str, str]:
        return {
            **HEADERS,
            "mcp-protocol-version": MODERN,
            "mcp-method": "tools/call",
            "mcp-name": name,
        }

    async with gateway_client(servers, cfg=cfg) as (client, _):
        params = {"name": SEARCH_TOOL, "arguments": {"query": "weather"}, "_meta": _META}
        response = await client.post(
            "/mcp/find", content=rpc("tools/call", params), headers=modern(SEARCH_TOOL)
        )
        assert response.json()["result"]["resultType"] == "complete"
        assert found(response) == ["one__weather"]
        params = {"name": "one__weather", "arguments": {}, "_meta": _META}
        called = await client.post(
            "/mcp/find", content=rpc("tools/call", params), headers=modern("one__weather")
        )
        assert called.json()["result"]["content"][0]["text"] == "one:weather:{}"


async def test_an_unchanged_catalog_keeps_its_index_and_a_changed_one_gets_a_new_one() -> None:
    servers = upstreams()
    async with gateway_client(servers, cfg=config(servers, find=searching())) as (client, gateway):
        session = await initialize(client, "/mcp/find")
        await call(client, session, search_call("echo"), path="/mcp/find")
        first = _index_of(gateway)
        await gateway.catalogs.refresh("one")  # the same tools: the index is kept
        await call(client, session, search_call("echo", 2), path="/mcp/find")
        assert _index_of(gateway) is first
        servers["one"].tools.append(tool("translate", description="Translate text"))
        await gateway.catalogs.refresh("one")
        response = await call(client, session, search_call("translate", 3), path="/mcp/find")
        assert found(response) == ["one__translate"]
        assert _index_of(gateway) is not first


def _index_of(gateway: Any) -> LazyIndex:
    indexes: dict[str, LazyIndex] = gateway.views._indexes
    return indexes["find"]


async def test_a_search_asks_policy_only_when_something_matches_and_drops_what_it_hides() -> None:
    catalog = ServerCatalog(
        server="s",
        tools=(tool("a", description="alpha job"), tool("b", description="alpha beta job")),
    )
    search = ToolSearch(LazyIndex(tuple(document_of("s", t) for t in catalog.tools)))
    view = build_view([catalog], prefix=True, allow_tool=lambda s, t: True, search=search)
    asked: list[int] = []

    async def visible() -> frozenset[str]:
        asked.append(1)
        return frozenset({"s__b"})

    none = await search_result(view, search, {"query": "zebra"}, visible)
    assert none["structuredContent"] == {"tools": []}
    assert asked == []
    result = await search_result(view, search, {"query": "alpha job"}, visible)
    assert [t["name"] for t in result["structuredContent"]["tools"]] == ["s__b"]
    with pytest.raises(JsonRpcError):
        await search_result(view, search, ["not", "an", "object"], visible)


async def test_an_upstream_search_tools_on_an_unprefixed_endpoint_is_hidden_and_reported() -> None:
    servers = {"one": FakeUpstream("one", [tool("search_tools"), tool("echo", description="Echo")])}
    search = SearchConfig()
    vs = VirtualServerConfig(name="find", servers=("one",), prefix=False, search=search)
    async with gateway_client(servers, cfg=config(servers, find=vs)) as (client, gateway):
        assert any("'search_tools' of one is hidden" in w for w in gateway.catalogs.warnings)
        session = await initialize(client, "/mcp/find")
        response = await call(client, session, search_call("echo"), path="/mcp/find")
        assert found(response) == ["echo"]
        assert [name for name, _ in servers["one"].calls] == ["tools/list"]


async def test_a_removed_endpoints_index_is_dropped_when_the_config_changes() -> None:
    servers = upstreams()
    async with gateway_client(servers, cfg=config(servers, find=searching())) as (client, gateway):
        session = await initialize(client, "/mcp/find")
        await call(client, session, search_call("echo"), path="/mcp/find")
        gateway.views.clear(gateway.endpoints)
        assert _index_of(gateway) is not None  # the endpoint is still there
        gateway.views.clear({"other"})
        assert "find" not in gateway.views._indexes
