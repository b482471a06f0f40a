"""Store contract: tool catalog syncs (added/changed/removed by definition hash) and health."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import pytest

from giru.errors import NotFoundError, ValidationError
from giru.store import Store
from tests.integration.store.data import ACTOR, http_server

pytestmark = pytest.mark.integration


def tool(name: str, description: str = "does things", **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": description, "inputSchema": {"type": "object"}, **extra}


def digest(definition: dict[str, Any]) -> str:
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
async def github(store: Store) -> Store:
    await store.create("MCPServer", "github", http_server(), actor=ACTOR)
    return store


async def test_a_first_sync_adds_every_tool_with_its_definition_hash(github: Store) -> None:
    search = tool("search", title="Search", annotations={"readOnlyHint": True})
    result = await github.sync_tools(
        "github",
        [search, tool("get_issue")],
        tags={"search": ["read"]},
        categories={"search": "data"},
    )
    assert (result.server, result.tools, result.added, result.changed, result.removed) == (
        "github",
        2,
        2,
        0,
        0,
    )
    [issue, found] = (await github.list_tools(server="github")).items
    assert (found.name, found.definition, found.definition_hash) == (
        "search",
        search,
        digest(search),
    )
    assert (found.description, found.input_schema, found.tags) == (
        "does things",
        {"type": "object"},
        ("read",),
    )
    assert (found.category, issue.category) == ("data", None)
    assert found.available
    assert found.first_seen_at == found.last_synced_at
    assert issue.tags == ()
    assert (await github.get("MCPServer", "github")).status["tools"] == 2


async def test_later_syncs_count_changes_and_keep_removed_tools(github: Store) -> None:
    await github.sync_tools("github", [tool("a"), tool("b"), tool("c")], tags={})
    [first_a, *_] = (await github.list_tools()).items
    result = await github.sync_tools(
        "github", [tool("a", "new text"), tool("b"), tool("d")], tags={}
    )
    assert (result.tools, result.added, result.changed, result.removed) == (3, 1, 1, 1)
    listed = {t.name: t for t in (await github.list_tools()).items}
    assert {n: t.available for n, t in listed.items()} == {
        "a": True,
        "b": True,
        "c": False,
        "d": True,
    }
    assert listed["a"].description == "new text"
    assert listed["a"].definition_hash == digest(tool("a", "new text"))
    assert listed["a"].first_seen_at == first_a.first_seen_at
    assert listed["a"].last_synced_at > first_a.last_synced_at
    assert (await github.get("MCPServer", "github")).status["tools"] == 3
    revision = await github.revision()
    same = await github.sync_tools("github", [tool("a", "new text"), tool("b"), tool("d")], tags={})
    assert (same.added, same.changed, same.removed) == (0, 0, 0)
    assert await github.revision() == revision
    back = await github.sync_tools(
        "github", [tool("a", "new text"), tool("b"), tool("c"), tool("d")], tags={}
    )
    assert (back.added, back.changed, back.removed) == (1, 0, 0)
    changes = await github.list_changes(kind="MCPServer", name="github")
    assert [c.detail for c in changes.items if c.action == "sync"] == [
        {"added": 1, "changed": 0, "removed": 0},
        {"added": 1, "changed": 1, "removed": 1},
        {"added": 3, "changed": 0, "removed": 0},
    ]


async def test_tools_go_unavailable_and_back_as_last_synced(github: Store) -> None:
    await github.sync_tools("github", [tool("a"), tool("gone")], tags={})
    await github.sync_tools("github", [tool("a")], tags={})
    await github.set_tools_available("github", False)
    assert (await github.list_tools(available=True)).items == []
    await github.set_tools_available("github", True)
    assert [t.name for t in (await github.list_tools(available=True)).items] == ["a"]
    assert [t.name for t in (await github.list_tools(available=False)).items] == ["gone"]


async def test_tool_listings_filter_and_page(github: Store) -> None:
    await github.create(
        "MCPServer", "jira", http_server("https://jira.example.com/mcp"), actor=ACTOR
    )
    await github.sync_tools(
        "github",
        [tool("search", "Find CODE"), tool("get_issue", "100% useful"), tool("x_y")],
        tags={"search": ["read", "scm"], "get_issue": ["read"]},
    )
    await github.sync_tools("jira", [tool("search", "Find tickets"), tool("xay")], tags={})

    async def names(**query: Any) -> list[str]:
        return [f"{t.server}/{t.name}" for t in (await github.list_tools(**query)).items]

    assert await names(tag="scm") == ["github/search"]
    assert await names(tag="read") == ["github/get_issue", "github/search"]
    assert await names(q="code") == ["github/search"]
    assert await names(q="find") == ["github/search", "jira/search"]
    assert await names(q="%") == ["github/get_issue"]
    assert await names(q="x_") == ["github/x_y"]
    assert await names(server="jira") == ["jira/search", "jira/xay"]
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = await github.list_tools(limit=2, cursor=cursor)
        pages.append([f"{t.server}/{t.name}" for t in page.items])
        if (cursor := page.next_cursor) is None:
            break
    assert pages == [
        ["github/get_issue", "github/search"],
        ["github/x_y", "jira/search"],
        ["jira/xay"],
    ]


async def test_deleting_a_server_deletes_its_tools(github: Store) -> None:
    await github.sync_tools("github", [tool("a")], tags={})
    await github.delete("MCPServer", "github", actor=ACTOR)
    assert (await github.list_tools()).items == []


async def test_catalog_calls_need_a_known_server_and_named_tools(github: Store) -> None:
    with pytest.raises(NotFoundError):
        await github.sync_tools("nope", [], tags={})
    with pytest.raises(NotFoundError):
        await github.record_health("nope", "healthy", None)
    with pytest.raises(ValidationError):
        await github.sync_tools("github", [{"description": "no name"}], tags={})


async def test_health_is_recorded_and_changes_bump_the_revision(github: Store) -> None:
    revision = await github.revision()
    await github.record_health("github", "unhealthy", "connection refused")
    status = (await github.get("MCPServer", "github")).status
    assert (status["health"], status["healthError"]) == ("unhealthy", "connection refused")
    assert status["lastHealthCheck"].endswith("Z")
    assert await github.revision() == revision + 1
    await github.record_health("github", "unhealthy", "connection refused")
    later = (await github.get("MCPServer", "github")).status
    assert moment(later["lastHealthCheck"]) > moment(status["lastHealthCheck"])
    assert await github.revision() == revision + 1
    with pytest.raises(ValidationError):
        await github.record_health("github", "sick", None)


async def test_a_change_of_health_writes_one_change_record_and_repeated_checks_none(
    github: Store,
) -> None:
    await github.record_health("github", "healthy", None)
    await github.record_health("github", "healthy", None)
    await github.record_health("github", "unhealthy", "connection refused")
    await github.record_health("github", "unhealthy", "connection refused")
    await github.record_health("github", "unhealthy", "connection reset")  # same health
    await github.record_health("github", "healthy", None)
    changes = await github.list_changes(kind="MCPServer", name="github", action="health")
    assert [(c.actor, c.version, c.detail) for c in changes.items] == [
        ("system", None, {"health": "healthy", "error": None}),
        ("system", None, {"health": "unhealthy", "error": "connection refused"}),
        ("system", None, {"health": "healthy", "error": None}),
    ]
    everything = await github.list_changes(kind="MCPServer", name="github")
    assert [c.action for c in everything.items] == ["health", "health", "health", "create"]


async def test_a_health_change_record_keeps_the_start_of_a_long_error(github: Store) -> None:
    await github.record_health("github", "unhealthy", "x" * 5000)
    [change] = (await github.list_changes(action="health")).items
    assert change.detail["error"] == "x" * 500
    status = (await github.get("MCPServer", "github")).status
    assert status["healthError"] == "x" * 5000
