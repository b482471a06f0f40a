"""The tool catalog (sync on demand through the runtime, listing) and the change log."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.api.conftest import FakeRuntime, client_doc, create_all, server_doc

pytestmark = pytest.mark.integration

TOOLS = [
    {"name": "read", "description": "Read a file", "inputSchema": {"type": "object"}},
    {"name": "write", "description": "Write a file", "inputSchema": {"type": "object"}},
]


@pytest.fixture
async def synced(api: httpx.AsyncClient, runtime: FakeRuntime) -> httpx.Response:
    await create_all(api, "/api/v1/servers", [server_doc("files"), server_doc("web")])
    runtime.tools["files"] = TOOLS
    runtime.tools["web"] = [{"name": "fetch", "inputSchema": {"type": "object"}}]
    assert (await api.post("/api/v1/servers/web/sync")).status_code == 200
    return await api.post("/api/v1/servers/files/sync")


async def test_sync_records_the_servers_tools(synced: httpx.Response) -> None:
    assert synced.status_code == 200, synced.text
    assert synced.json() == {"server": "files", "tools": 2, "added": 2, "changed": 0, "removed": 0}


async def test_tools_list_and_filter_by_server_and_text(
    api: httpx.AsyncClient, synced: httpx.Response
) -> None:
    everything = (await api.get("/api/v1/tools")).json()["items"]
    files = (await api.get("/api/v1/tools", params={"server": "files"})).json()["items"]
    found = (await api.get("/api/v1/tools", params={"q": "WRITE"})).json()["items"]

    assert [(t["server"], t["name"]) for t in everything] == [
        ("files", "read"),
        ("files", "write"),
        ("web", "fetch"),
    ]
    assert [t["name"] for t in files] == ["read", "write"]
    assert [t["name"] for t in found] == ["write"]
    assert files[0]["inputSchema"] == {"type": "object"}
    assert files[0]["available"] is True


async def test_tools_gone_upstream_stay_listed_as_unavailable(
    api: httpx.AsyncClient, runtime: FakeRuntime, synced: httpx.Response
) -> None:
    runtime.tools["files"] = TOOLS[:1]

    resynced = await api.post("/api/v1/servers/files/sync")
    gone = await api.get("/api/v1/tools", params={"available": "false"})

    assert resynced.json()["removed"] == 1
    assert [t["name"] for t in gone.json()["items"]] == ["write"]


async def test_syncing_an_unreachable_server_is_503(
    api: httpx.AsyncClient, runtime: FakeRuntime
) -> None:
    await create_all(api, "/api/v1/servers", [server_doc("files")])
    runtime.unreachable.add("files")

    response = await api.post("/api/v1/servers/files/sync")

    assert response.status_code == 503
    assert response.json()["code"] == "upstream_unavailable"


async def test_syncing_a_missing_server_is_404(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/servers/nope/sync")

    assert response.status_code == 404


async def test_changes_record_the_admin_key_that_made_them(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    await create_all(clients["operator"], "/api/v1/servers", [server_doc("files")])
    await create_all(clients["admin"], "/api/v1/clients", [client_doc("ana")])
    await clients["admin"].delete("/api/v1/servers/files")

    response = await clients["viewer"].get("/api/v1/changes")
    for_files = await clients["viewer"].get("/api/v1/changes", params={"name": "files"})

    assert response.status_code == 200
    made = [(c["actor"], c["action"], c["kind"], c["name"]) for c in response.json()["items"]]
    assert ("operator-key", "create", "MCPServer", "files") in made
    assert ("admin-key", "create", "Client", "ana") in made
    assert ("admin-key", "delete", "MCPServer", "files") in made
    assert {c["name"] for c in for_files.json()["items"]} == {"files"}


async def test_a_servers_health_history_is_in_the_change_log(
    clients: dict[str, httpx.AsyncClient], runtime: FakeRuntime
) -> None:
    await create_all(clients["operator"], "/api/v1/servers", [server_doc("files")])
    for health, error in [
        ("healthy", None),
        ("unhealthy", "<script>alert(1)</script> refused"),
        ("unhealthy", "<script>alert(1)</script> refused"),
        ("healthy", None),
    ]:
        await runtime.store.record_health("files", health, error)
    query = {"kind": "MCPServer", "name": "files", "action": "health", "limit": "20"}

    history = await clients["viewer"].get("/api/v1/changes", params=query)
    everything = await clients["viewer"].get(
        "/api/v1/changes", params={"kind": "MCPServer", "name": "files"}
    )

    assert history.status_code == 200, history.text
    assert [(c["action"], c["actor"], c["detail"]) for c in history.json()["items"]] == [
        ("health", "system", {"health": "healthy", "error": None}),
        ("health", "system", {"health": "unhealthy", "error": "<script>alert(1)</script> refused"}),
        ("health", "system", {"health": "healthy", "error": None}),
    ]
    assert [c["action"] for c in everything.json()["items"]] == ["health"] * 3 + ["create"]
