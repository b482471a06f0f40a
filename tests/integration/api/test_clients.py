"""Client keys over the API (generated once, then only a prefix) and a client's compiled tools."""

from __future__ import annotations

import httpx
import pytest

from giru.api import ClientTool
from tests.integration.api.conftest import FakeRuntime, client_doc

pytestmark = pytest.mark.integration

HASH = "sha256:" + "ab" * 32


async def test_a_generated_key_is_shown_once_then_only_its_prefix(api: httpx.AsyncClient) -> None:
    created = await api.post("/api/v1/clients", json=client_doc("ana"))
    key = created.json()["apiKey"]

    fetched = await api.get("/api/v1/clients/ana")
    keys = await api.get("/api/v1/clients/ana/keys")

    assert created.status_code == 201
    assert key.startswith("giru_")
    assert len(key) == 60  # giru_<11-character id>_<43-character secret>
    assert "apiKey" not in fetched.json()
    assert key not in fetched.text
    assert key not in keys.text
    [listed] = keys.json()["items"]
    assert listed["source"] == "generated"
    assert listed["prefix"] == key[:16]  # giru_<id>: the key's public identifier
    assert fetched.json()["status"]["keys"][0]["prefix"] == listed["prefix"]


async def test_a_client_with_its_own_key_hash_gets_no_generated_key(
    api: httpx.AsyncClient,
) -> None:
    created = await api.post("/api/v1/clients", json=client_doc("ana", apiKeyHash=HASH))

    assert created.status_code == 201, created.text
    assert created.json()["apiKey"] is None


async def test_rotation_adds_a_key_and_revocation_removes_one(api: httpx.AsyncClient) -> None:
    await api.post("/api/v1/clients", json=client_doc("ana"))
    [first] = (await api.get("/api/v1/clients/ana/keys")).json()["items"]

    rotated = await api.post("/api/v1/clients/ana/keys")
    revoked = await api.delete(f"/api/v1/clients/ana/keys/{first['id']}")
    remaining = (await api.get("/api/v1/clients/ana/keys")).json()["items"]

    assert rotated.status_code == 201
    assert rotated.json()["apiKey"].startswith(rotated.json()["prefix"])
    assert revoked.status_code == 204
    assert [key["id"] for key in remaining] == [rotated.json()["id"]]


async def test_keys_of_missing_clients_are_404(api: httpx.AsyncClient) -> None:
    listed = await api.get("/api/v1/clients/nope/keys")
    rotated = await api.post("/api/v1/clients/nope/keys")
    revoked = await api.delete("/api/v1/clients/nope/keys/123")

    assert [listed.status_code, rotated.status_code, revoked.status_code] == [404, 404, 404]


async def test_revoking_an_unknown_key_is_404(api: httpx.AsyncClient) -> None:
    await api.post("/api/v1/clients", json=client_doc("ana"))

    response = await api.delete("/api/v1/clients/ana/keys/not-a-key")

    assert response.status_code == 404


async def test_client_tools_come_from_the_runtime(
    api: httpx.AsyncClient, runtime: FakeRuntime
) -> None:
    await api.post("/api/v1/clients", json=client_doc("ana"))
    tool: ClientTool = {
        "name": "files__read",
        "server": "files",
        "tool": "read",
        "description": "Read a file",
        "inputSchema": {"type": "object"},
        "providedBy": {"server": "files", "subscription": "ana-files"},
        "quota": {
            "perDay": 100,
            "perMonth": None,
            "usedToday": 7,
            "usedThisMonth": 7,
            "remainingToday": 93,
            "remainingThisMonth": None,
        },
    }
    runtime.views["ana"] = [tool]

    response = await api.get("/api/v1/clients/ana/tools")

    assert response.status_code == 200
    assert response.json() == {"tools": [tool]}


async def test_tools_of_a_missing_client_are_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/v1/clients/nope/tools")

    assert response.status_code == 404
