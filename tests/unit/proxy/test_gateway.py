"""The data path over in-process fake upstreams: sessions, aggregation, routing, HTTP checks."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import orjson
import pytest

from giru.identity import AccessToken
from giru.manifests.config import VirtualServerConfig
from giru.mcp.jsonrpc import dumps
from giru.proxy.endpoints import Principal
from giru.proxy.http import Request
from giru.upstream.base import RESTARTED
from tests.unit.proxy.fakes import KEY, OTHER_KEY, FakeUpstream, config, gateway_client, tool

HEADERS = {
    "authorization": f"Bearer {KEY}",
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
}


def upstreams() -> dict[str, FakeUpstream]:
    return {
        "one": FakeUpstream("one", [tool("echo", annotations={"x": 1}), tool("progress")]),
        "two": FakeUpstream("two", [tool("echo"), tool("sample")]),
    }


def rpc(method: str, params: dict[str, Any] | None = None, id: Any = 1) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    return orjson.dumps(message)


async def initialize(client: httpx.AsyncClient, path: str = "/mcp", key: str = KEY) -> str:
    response = await client.post(
        path,
        content=rpc("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}}),
        headers={**HEADERS, "authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"]["protocolVersion"] == "2025-11-25"
    session = response.headers["mcp-session-id"]
    initialized = orjson.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert (await call(client, session, initialized, path, key)).status_code == 202
    return session


async def call(
    client: httpx.AsyncClient, session: str, body: bytes, path: str = "/mcp", key: str = KEY
) -> httpx.Response:
    headers = {**HEADERS, "mcp-session-id": session, "authorization": f"Bearer {key}"}
    return await client.post(path, content=body, headers=headers)


def sse_messages(response: httpx.Response) -> list[dict[str, Any]]:
    return [
        orjson.loads(line[5:].strip())
        for line in response.text.splitlines()
        if line.startswith("data:") and line[5:].strip()
    ]


async def test_tools_from_all_servers_are_listed_with_prefixes_and_unknown_fields_kept() -> None:
    async with gateway_client(upstreams()) as (client, _):
        session = await initialize(client)
        response = await call(client, session, rpc("tools/list"))
        tools = response.json()["result"]["tools"]
        assert [t["name"] for t in tools] == [
            "one__echo",
            "one__progress",
            "two__echo",
            "two__sample",
        ]
        assert tools[0]["annotations"] == {"x": 1}


async def test_call_routes_to_the_owning_server_and_echoes_the_exact_id() -> None:
    servers = upstreams()
    async with gateway_client(servers) as (client, _):
        session = await initialize(client)
        body = b'{"jsonrpc":"2.0","id":12345678901234567890123,"method":"tools/call",' + (
            b'"params":{"name":"two__echo","arguments":{"a":1.50}}}'
        )
        response = await call(client, session, body)
        assert response.content.startswith(b'{"jsonrpc":"2.0","id":12345678901234567890123,')
        assert response.json()["result"]["content"][0]["text"] == 'two:echo:{"a":1.50}'
        assert dumps(servers["two"].calls[-1][1]) == b'{"name":"echo","arguments":{"a":1.50}}'


async def test_tool_the_client_may_not_use_answers_like_an_unknown_tool() -> None:
    async with gateway_client(upstreams()) as (client, _):
        session = await initialize(client, key=OTHER_KEY)
        listed = await call(client, session, rpc("tools/list"), key=OTHER_KEY)
        assert [t["name"] for t in listed.json()["result"]["tools"]] == ["one__echo"]
        hidden = await call(
            client, session, rpc("tools/call", {"name": "two__echo"}, 3), key=OTHER_KEY
        )
        missing = await call(
            client, session, rpc("tools/call", {"name": "two__nope"}, 2), key=OTHER_KEY
        )
        assert hidden.json()["error"]["code"] == missing.json()["error"]["code"] == -32602
        assert hidden.json()["error"]["message"] == "Unknown tool: two__echo"


async def test_progress_is_relayed_on_an_sse_stream_with_the_clients_own_token() -> None:
    async with gateway_client(upstreams()) as (client, _):
        session = await initialize(client)
        params = {"name": "one__progress", "_meta": {"progressToken": "mine"}}
        response = await call(client, session, rpc("tools/call", params, 7))
        assert response.headers["content-type"] == "text/event-stream"
        progress, result = sse_messages(response)
        assert progress["params"]["progressToken"] == "mine"
        assert result["id"] == 7
        assert "content" in result["result"]


async def test_upstream_failure_answers_the_same_id_with_a_reason() -> None:
    servers = upstreams()
    async with gateway_client(servers) as (client, _):
        session = await initialize(client)
        servers["one"].fail = True
        response = await call(client, session, rpc("tools/call", {"name": "one__echo"}, "x"))
        body = response.json()
        assert body["id"] == "x"
        assert body["error"]["code"] == -32603
        assert body["error"]["data"] == {"reason": "upstream_unavailable", "server": "one"}
        ok = await call(client, session, rpc("tools/call", {"name": "two__echo"}, "y"))
        assert "result" in ok.json()


async def test_unprefixed_virtual_server_shows_its_servers_tools_by_their_own_names() -> None:
    servers = upstreams()
    vs = VirtualServerConfig(name="solo", servers=("two",), prefix=False)
    async with gateway_client(servers, cfg=config(servers, solo=vs)) as (client, _):
        session = await initialize(client, "/mcp/solo")
        listed = await call(client, session, rpc("tools/list"), path="/mcp/solo")
        assert [t["name"] for t in listed.json()["result"]["tools"]] == ["echo", "sample"]
        wrong_endpoint = await call(client, session, rpc("tools/list", id=2))
        assert wrong_endpoint.status_code == 404


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({"origin": "https://evil.example"}, rpc("ping"), 403, -32600),
        ({"host": "evil.example.com"}, rpc("ping"), 403, -32600),
        ({"content-type": "text/plain"}, rpc("ping"), 415, -32600),
        ({"accept": "application/json"}, rpc("ping"), 400, -32600),
        ({"authorization": "Bearer wrong"}, rpc("ping"), 401, -32600),
        ({}, b"{bad json", 400, -32700),
        ({}, b"[]", 400, -32600),
        ({}, b'{"jsonrpc":"2.0","id":1,"method":"a","method":"b"}', 400, -32600),
        ({"mcp-session-id": "nope"}, rpc("ping"), 404, -32600),
        ({}, rpc("ping"), 400, -32600),
    ],
)
async def test_bad_requests_are_rejected_before_any_upstream_sees_them(
    headers: dict[str, str], body: bytes, status: int, code: int
) -> None:
    servers = upstreams()
    async with gateway_client(servers) as (client, _):
        before = [len(s.calls) for s in servers.values()]
        response = await client.post("/mcp", content=body, headers={**HEADERS, **headers})
        assert response.status_code == status
        assert response.json()["error"]["code"] == code
        assert [len(s.calls) for s in servers.values()] == before
        if status == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")


async def test_body_over_the_limit_is_refused_with_413() -> None:
    def small(settings: Any) -> None:
        settings.http.max_body_bytes = 2048

    async with gateway_client(upstreams(), tune=small) as (client, _):
        session = await initialize(client)
        big = rpc("tools/call", {"name": "one__echo", "arguments": {"x": "a" * 4096}})
        response = await call(client, session, big)
        assert response.status_code == 413


async def test_reused_request_id_in_a_session_is_rejected() -> None:
    async with gateway_client(upstreams()) as (client, _):
        session = await initialize(client)
        first = await call(client, session, rpc("ping", id=5))
        second = await call(client, session, rpc("ping", id=5))
        assert "result" in first.json()
        assert second.json()["error"]["code"] == -32600


async def test_another_clients_session_id_is_not_found() -> None:
    async with gateway_client(upstreams()) as (client, _):
        session = await initialize(client)
        response = await call(client, session, rpc("ping"), key=OTHER_KEY)
        assert response.status_code == 404


async def test_deleted_session_answers_404() -> None:
    async with gateway_client(upstreams()) as (client, _):
        session = await initialize(client)
        deleted = await client.delete("/mcp", headers={**HEADERS, "mcp-session-id": session})
        assert deleted.status_code == 200
        response = await call(client, session, rpc("ping"))
        assert response.status_code == 404


async def test_notification_is_accepted_with_202_and_no_body() -> None:
    async with gateway_client(upstreams()) as (client, _):
        session = await initialize(client)
        body = orjson.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
        response = await call(client, session, body)
        assert response.status_code == 202
        assert response.content == b""


async def test_unsupported_protocol_version_header_is_400() -> None:
    async with gateway_client(upstreams()) as (client, _):
        session = await initialize(client)
        headers = {**HEADERS, "mcp-session-id": session, "mcp-protocol-version": "1900-01-01"}
        response = await client.post("/mcp", content=rpc("ping"), headers=headers)
        assert response.status_code == 400


async def test_health_ready_and_metrics() -> None:
    async with gateway_client(upstreams()) as (client, _):
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = (await client.get("/readyz")).json()
        assert ready == {"ready": True, "servers": {"one": "ok", "two": "ok"}}
        session = await initialize(client)
        await call(client, session, rpc("tools/call", {"name": "one__echo"}))
        metrics = (await client.get("/metrics")).text
        assert (
            'giru_mcp_requests_total{method="tools/call",outcome="ok",server="one",tool="echo"} 1.0'
            in metrics
        )


async def test_unprefixed_collision_keeps_the_first_server_and_is_reported_by_readyz() -> None:
    servers = upstreams()
    vs = VirtualServerConfig(name="both", servers=("one", "two"), prefix=False)
    async with gateway_client(servers, cfg=config(servers, both=vs)) as (client, _):
        ready = (await client.get("/readyz")).json()
        assert ready["warnings"] == [
            "VirtualServer/both: tool 'echo' is offered by one, two; unprefixed names must be "
            "unique (set prefix: true)"
        ]
        session = await initialize(client, "/mcp/both")
        listed = await call(client, session, rpc("tools/list"), path="/mcp/both")
        assert [t["name"] for t in listed.json()["result"]["tools"]] == [
            "echo",
            "progress",
            "sample",
        ]
        answer = await call(
            client, session, rpc("tools/call", {"name": "echo"}, 2), path="/mcp/both"
        )
        assert answer.json()["result"]["content"][0]["text"].startswith("one:echo")


async def test_made_up_methods_do_not_become_metric_labels() -> None:
    async with gateway_client(upstreams()) as (client, _):
        session = await initialize(client)
        for n in range(3):
            await call(client, session, rpc(f"made/up/{n}", id=100 + n))
        metrics = (await client.get("/metrics")).text
        assert "made/up" not in metrics
        assert (
            'giru_mcp_requests_total{method="other",outcome="error",server="",tool=""} 3.0'
            in metrics
        )


@pytest.mark.parametrize(
    "path", ["/mcp%2Fsolo", "/mcp/%73olo", "//mcp"]
)  # httpx drops dot segments
async def test_path_tricks_never_reach_an_endpoint(path: str) -> None:
    servers = upstreams()
    vs = VirtualServerConfig(name="solo", servers=("two",), prefix=False)
    async with gateway_client(servers, cfg=config(servers, solo=vs)) as (client, _):
        body = rpc("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}})
        request = client.build_request("POST", "/", content=body, headers=HEADERS)
        request.url = request.url.copy_with(raw_path=path.encode())
        response = await client.send(request)
        assert response.status_code == 404


async def test_a_bug_inside_a_call_is_a_json_rpc_internal_error_for_the_same_id() -> None:
    servers = upstreams()
    servers["one"].broken = True
    async with gateway_client(servers) as (client, _):
        session = await initialize(client)
        response = await call(client, session, rpc("tools/call", {"name": "one__echo"}, "b"))
        assert response.json()["id"] == "b"
        assert response.json()["error"] == {
            "code": -32603,
            "message": "Internal error",
            "data": {"reason": "internal_error"},
        }
        again = await call(client, session, rpc("tools/call", {"name": "two__echo"}, 2))
        assert "result" in again.json()


class _Exploding:
    """An authenticator with a bug: every request it sees fails before any dispatch."""

    async def authenticate(self, token: str) -> None:
        raise RuntimeError("a bug")

    def get(self, name: str) -> None:
        return None

    def recall(self, principal: Principal) -> None:
        return None

    def person(self, token: AccessToken, presented: object = None) -> Principal:
        raise RuntimeError("a bug")


async def test_a_bug_before_dispatch_is_a_json_rpc_500_not_a_bare_one() -> None:
    async with gateway_client(upstreams()) as (client, gateway):
        gateway.authenticator = _Exploding()
        response = await client.post("/mcp", content=rpc("ping"), headers=HEADERS)
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]["code"] == -32603


def test_repeated_headers_are_joined_in_order_once() -> None:
    lines = [(b"x-d", b"v%d" % n) for n in range(50_000)] + [(b"Accept", b" a ")]
    scope = {"method": "GET", "path": "/", "headers": lines}
    request = Request(scope, _never)
    assert request.headers["x-d"] == ", ".join(f"v{n}" for n in range(50_000))
    assert request.headers["accept"] == "a"


async def _never() -> dict[str, Any]:
    raise AssertionError("the body is not read")


async def test_a_list_change_arriving_during_a_refresh_is_not_lost() -> None:
    """The upstream changes again while Giru is fetching its list: the fetch returns the old
    list, so Giru must fetch once more rather than drop the second notification."""
    gateway_of: list[Any] = []

    class Changing(FakeUpstream):
        async def request(self, method: str, params: dict[str, Any] | None, **kw: Any) -> Any:
            answer = await super().request(method, params, **kw)
            if method == "tools/list" and len(self.tools) == 1 and gateway_of:
                self.tools = [*self.tools, tool("late")]  # changed after this list was read
                await gateway_of[0].catalogs.on_list_changed(
                    "one", "notifications/tools/list_changed"
                )
            return answer

    upstream = Changing("one", [tool("echo")])
    async with gateway_client({"one": upstream}) as (_, gateway):
        gateway_of.append(gateway)
        await gateway.catalogs.on_list_changed("one", "notifications/tools/list_changed")
        task = gateway.catalogs._refreshes["one"]
        await task
        assert [t["name"] for t in gateway.catalogs.by_server["one"].tools] == ["echo", "late"]


async def _announced(gateway: Any) -> list[str]:
    told: list[str] = []

    async def broadcast(notification: dict[str, Any]) -> None:
        told.append(notification["method"])

    gateway.catalogs.broadcast = broadcast
    return told


async def test_a_refresh_announces_the_lists_that_changed_and_only_those() -> None:
    upstream = FakeUpstream("one", [tool("echo")])
    async with gateway_client({"one": upstream}) as (_, gateway):
        told = await _announced(gateway)
        await gateway.catalogs.refresh("one")
        assert told == []  # nothing changed: nothing to re-list
        upstream.tools = [tool("echo"), tool("new")]
        await gateway.catalogs.refresh("one")
        assert told == ["notifications/tools/list_changed"]


async def test_an_upstream_that_started_over_is_listed_again_and_the_change_announced() -> None:
    upstream = FakeUpstream("one", [tool("echo")])
    async with gateway_client({"one": upstream}) as (_, gateway):
        told = await _announced(gateway)
        upstream.tools = [tool("after_restart")]
        await gateway.catalogs.on_list_changed("one", RESTARTED["method"])
        await gateway.catalogs._refreshes["one"]
        assert [t["name"] for t in gateway.catalogs.by_server["one"].tools] == ["after_restart"]
        assert told == ["notifications/tools/list_changed"]


@pytest.mark.parametrize("keep_stale", [True, False])
async def test_an_unhealthy_server_stays_listed_unless_keep_stale_is_false(
    keep_stale: bool,
) -> None:
    upstreams = {"one": FakeUpstream("one", [tool("echo")]), "two": FakeUpstream("two")}
    cfg = config(upstreams)
    servers = {
        n: dataclasses.replace(s, keep_stale=keep_stale) if n == "one" else s
        for n, s in cfg.servers.items()
    }
    async with gateway_client(upstreams, cfg=dataclasses.replace(cfg, servers=servers)) as (
        client,
        gateway,
    ):
        told = await _announced(gateway)
        session = await initialize(client)
        await gateway.catalogs.health_changed("one", healthy=False)
        names = [
            t["name"]
            for t in (await call(client, session, rpc("tools/list", id=2))).json()["result"][
                "tools"
            ]
        ]
        assert names == (["one__echo"] if keep_stale else [])
        assert told == ([] if keep_stale else ["notifications/tools/list_changed"])
        await gateway.catalogs.health_changed("one", healthy=True)
        names = [
            t["name"]
            for t in (await call(client, session, rpc("tools/list", id=3))).json()["result"][
                "tools"
            ]
        ]
        assert names == ["one__echo"]
        assert told == ([] if keep_stale else ["notifications/tools/list_changed"] * 2)
