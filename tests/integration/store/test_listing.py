"""Store contract: listings page by name with opaque cursors and filter per kind."""

from __future__ import annotations

from typing import Any

import pytest

from giru.errors import ValidationError
from giru.store import Kind, Store
from tests.integration.store.data import ACTOR, http_server, seed, subscription

pytestmark = pytest.mark.integration


async def names(store: Store, kind: Kind, **filters: str) -> list[str]:
    return [r.name for r in (await store.list(kind, filters=filters)).items]


async def test_pages_follow_cursors_in_name_order(store: Store) -> None:
    for name in ("s3", "s1", "s5", "s2", "s4"):
        await store.create("MCPServer", name, http_server(), actor=ACTOR)
    seen: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = await store.list("MCPServer", limit=2, cursor=cursor)
        seen.append([r.name for r in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [["s1", "s2"], ["s3", "s4"], ["s5"]]
    exact = await store.list("MCPServer", limit=5)
    assert len(exact.items) == 5
    assert exact.next_cursor is None


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "WyJhIiwiYiJd"}, "cursor"),  # a cursor of another listing (two keys)
        ({"limit": 0}, "limit"),
        ({"filters": {"colour": "red"}}, "filters.colour"),
    ],
)
async def test_bad_listing_arguments_are_validation_errors(
    store: Store, arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        await store.list("MCPServer", **arguments)
    assert [e["field"] for e in exc.value.data["errors"]] == [field]


async def test_servers_filter_by_name_prefix_transport_and_health(store: Store) -> None:
    await store.create("MCPServer", "git-hub", http_server(), actor=ACTOR)
    await store.create(
        "MCPServer", "git-lab", {"transport": "sse", "url": "https://gl/sse"}, actor=ACTOR
    )
    await store.create(
        "MCPServer", "files", {"transport": "stdio", "command": "mcp-files"}, actor=ACTOR
    )
    await store.record_health("git-lab", "healthy", None)
    assert await names(store, "MCPServer", name="git-") == ["git-hub", "git-lab"]
    assert await names(store, "MCPServer", name="g_t") == []  # a prefix, not a pattern
    assert await names(store, "MCPServer", transport="stdio") == ["files"]
    assert await names(store, "MCPServer", health="healthy") == ["git-lab"]
    assert await names(store, "MCPServer", health="unknown", name="git") == ["git-hub"]


async def test_subscriptions_filter_by_client_server_status_and_environment(store: Store) -> None:
    await seed(store)
    await store.create("Client", "bot", {}, actor=ACTOR)
    await store.create("Subscription", "a", subscription(environment="dev"), actor=ACTOR)
    await store.create("Subscription", "b", subscription(client="bot", server="jira"), actor=ACTOR)
    await store.create(
        "Subscription", "c", subscription(server="jira", requiresApproval=True), actor=ACTOR
    )
    assert await names(store, "Subscription", client="ci") == ["a", "c"]
    assert await names(store, "Subscription", server="jira") == ["b", "c"]
    assert await names(store, "Subscription", status="pending") == ["c"]
    assert await names(store, "Subscription", environment="dev") == ["a"]
    assert await names(store, "Subscription", client="bot", server="github") == []
    assert await names(store, "Subscription", client="nobody") == []


async def test_the_change_log_pages_through_changes_of_one_instant(store: Store) -> None:
    docs: list[tuple[Kind, str, dict[str, Any]]] = [
        ("MCPServer", f"s{i}", http_server()) for i in range(5)
    ]
    await store.apply(docs, actor=ACTOR)  # five changes in one transaction, at one instant
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await store.list_changes(kind="MCPServer", limit=2, cursor=cursor)
        seen += [change.name for change in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert sorted(seen) == ["s0", "s1", "s2", "s3", "s4"]
    everything = await store.list_changes(limit=100)
    assert [c.kind for c in everything.items[-3:]] == ["Environment"] * 3  # seeded first
    with pytest.raises(ValidationError):
        await store.list_changes(cursor="WyJub3QgYSB0aW1lIiwiaWQiXQ")  # ["not a time","id"]
