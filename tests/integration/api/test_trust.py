"""Tool reviews through the API: listing with the diff, approve/reject by role, the answers to a
tool without a change under review, a stale expected hash, and an unknown server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from giru.catalog.snapshot import ServerCatalog
from giru.store import Store
from giru.trust import Pinning
from tests.integration.api.conftest import FakeRuntime, create_all, server_doc

pytestmark = pytest.mark.integration


def _tool(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "description": description, "inputSchema": {"type": "object"}}


@pytest.fixture
async def held(api: httpx.AsyncClient, store: Store) -> Pinning:
    """Server `files` pinned with `read` and `write`, then `read` changed (held)."""
    await create_all(api, "/api/v1/servers", [server_doc("files")])
    pinning = Pinning(store.database, store.tenant_id, mode_of=lambda _: "pin")
    await pinning.admit(ServerCatalog("files", tools=(_tool("read", "Read."), _tool("write", "W"))))
    changed = ServerCatalog("files", tools=(_tool("read", "Read it all."), _tool("write", "W")))
    await pinning.admit(changed)
    return pinning


async def test_a_held_change_is_listed_with_its_diff(
    clients: dict[str, httpx.AsyncClient], held: Pinning
) -> None:
    answer = await clients["viewer"].get("/api/v1/tool-reviews")
    assert answer.status_code == 200, answer.text
    (item,) = answer.json()["items"]
    assert (item["server"], item["tool"], item["change"], item["state"]) == (
        "files",
        "read",
        "changed",
        "pending",
    )
    assert item["diff"] == [
        {"path": "/description", "op": "replace", "before": "Read.", "after": "Read it all."}
    ]
    assert "+Read it all." in item["textDiff"]["description"]
    assert item["approvedHash"] != item["definitionHash"]
    other = await clients["viewer"].get("/api/v1/tool-reviews", params={"state": "rejected"})
    assert other.json()["items"] == []


async def test_a_servers_status_counts_its_tool_changes_waiting_for_review(
    clients: dict[str, httpx.AsyncClient], held: Pinning
) -> None:
    listed = await clients["viewer"].get("/api/v1/servers")
    (server,) = listed.json()["items"]
    assert server["status"]["heldTools"] == 1
    rejected = await clients["operator"].post(
        "/api/v1/servers/files/tools/reject", json={"tools": ["read"]}
    )
    assert rejected.status_code == 200, rejected.text
    status = (await clients["viewer"].get("/api/v1/servers/files")).json()["status"]
    assert status["heldTools"] == 0  # rejected: decided, no longer waiting


async def test_only_operators_and_admins_decide(
    clients: dict[str, httpx.AsyncClient], held: Pinning, runtime: FakeRuntime
) -> None:
    refused = await clients["viewer"].post("/api/v1/servers/files/tools/approve", json={})
    assert refused.status_code == 403
    before = runtime.notified
    rejected = await clients["operator"].post(
        "/api/v1/servers/files/tools/reject", json={"tools": ["read"]}
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["items"][0]["tool"] == "read"
    assert runtime.notified == before + 1  # every worker rereads the trust state
    (item,) = (await clients["viewer"].get("/api/v1/tool-reviews")).json()["items"]
    assert (item["state"], item["decidedBy"]) == ("rejected", "operator-key")
    approved = await clients["admin"].post(
        "/api/v1/servers/files/tools/approve", json={"tools": ["read"]}
    )
    assert approved.status_code == 200
    assert (await clients["viewer"].get("/api/v1/tool-reviews")).json()["items"] == []


async def test_a_whole_server_with_nothing_pending_decides_nothing(
    api: httpx.AsyncClient, held: Pinning, runtime: FakeRuntime
) -> None:
    assert (await api.post("/api/v1/servers/files/tools/approve")).json()["items"] != []
    before = runtime.notified
    again = await api.post("/api/v1/servers/files/tools/approve")
    assert again.status_code == 200
    assert again.json() == {"server": "files", "verdict": "approve", "items": []}
    assert runtime.notified == before


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/api/v1/servers/files/tools/approve", {"tools": ["nope"]}, 404, "not_found"),
        ("/api/v1/servers/ghost/tools/approve", {}, 404, "not_found"),
        (
            "/api/v1/servers/files/tools/approve",
            {"tools": ["read"], "expect": {"read": "0" * 64}},
            412,
            "precondition_failed",
        ),
        ("/api/v1/servers/files/tools/reject", {"tools": ["bad name!"]}, 422, "validation_failed"),
    ],
)
async def test_refused_decisions_say_why(
    api: httpx.AsyncClient,
    held: Pinning,
    path: str,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    answer = await api.post(path, json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code
