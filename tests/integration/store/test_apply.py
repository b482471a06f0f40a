"""Store contract: apply is one transaction, in dependency order, with prune and dry run."""

from __future__ import annotations

from typing import Any

import pytest

from giru.errors import ConflictError, NotFoundError, ValidationError
from giru.store import Applied, Kind, Store
from tests.integration.store.data import ACTOR, http_server, subscription

pytestmark = pytest.mark.integration

FILE = "file:/etc/giru/team.yaml"
Doc = tuple[Kind, str, dict[str, Any]]
DOCS: list[Doc] = [
    ("Subscription", "ci-github", subscription()),  # before what it references: order is by kind
    ("Client", "ci", {"servers": ["github"]}),
    ("MCPServer", "github", http_server()),
]


def actions(results: list[Applied]) -> list[tuple[str, str, str]]:
    return [(r.kind, r.name, r.action) for r in results]


async def test_apply_creates_then_reports_unchanged_and_configured(store: Store) -> None:
    results = await store.apply(DOCS, actor=ACTOR)
    assert actions(results) == [
        ("Subscription", "ci-github", "created"),
        ("Client", "ci", "created"),
        ("MCPServer", "github", "created"),
    ]
    assert results[1].api_key is not None
    assert results[0].api_key is None
    assert (await store.get("Subscription", "ci-github")).spec["status"] == "active"
    revision = await store.revision()
    again = await store.apply(DOCS, actor=ACTOR)
    assert [r.action for r in again] == ["unchanged"] * 3
    assert all(r.api_key is None for r in again)
    assert await store.revision() == revision
    changed = [*DOCS[:2], ("MCPServer", "github", http_server(tags=["scm"]))]
    assert [r.action for r in await store.apply(changed, actor=ACTOR)] == [
        "unchanged",
        "unchanged",
        "configured",
    ]
    assert (await store.get("MCPServer", "github")).version == 2
    assert await store.revision() == revision + 1


async def test_prune_deletes_only_what_the_same_owner_no_longer_lists(store: Store) -> None:
    await store.create("MCPServer", "by-hand", http_server(), actor=ACTOR)
    await store.apply(DOCS, actor=ACTOR, managed_by=FILE)
    await store.apply(
        [("MCPServer", "jira", http_server())], actor=ACTOR, managed_by="file:/other.yaml"
    )
    results = await store.apply([DOCS[2]], actor=ACTOR, managed_by=FILE, prune=True)
    assert actions(results) == [
        ("MCPServer", "github", "unchanged"),
        ("Subscription", "ci-github", "deleted"),
        ("Client", "ci", "deleted"),
    ]
    assert [r.name for r in (await store.list("MCPServer")).items] == ["by-hand", "github", "jira"]
    assert len((await store.list("Environment")).items) == 3
    assert actions(await store.apply([], actor=ACTOR, managed_by=FILE, prune=True)) == [
        ("MCPServer", "github", "deleted")
    ]


async def test_dry_run_reports_without_writing(store: Store) -> None:
    revision = await store.revision()
    results = await store.apply(DOCS, actor=ACTOR, dry_run=True)
    assert [r.action for r in results] == ["created"] * 3
    assert all(r.api_key is None for r in results)
    assert await store.revision() == revision
    with pytest.raises(NotFoundError):
        await store.get("MCPServer", "github")
    assert (await store.list_changes(kind="MCPServer")).items == []


async def test_a_failing_document_rolls_back_the_whole_apply(store: Store) -> None:
    revision = await store.revision()
    docs: list[Doc] = [
        ("MCPServer", "github", http_server()),
        ("Subscription", "sub", subscription(client="nobody")),
        ("VirtualServer", "vs", {"servers": ["nothing"]}),
    ]
    with pytest.raises(ValidationError) as exc:
        await store.apply(docs, actor=ACTOR)
    assert [(e["document"], e["field"]) for e in exc.value.data["errors"]] == [
        (1, "spec.client"),
        (2, "spec.servers[0]"),
    ]
    assert await store.revision() == revision
    with pytest.raises(NotFoundError):
        await store.get("MCPServer", "github")


async def test_invalid_documents_are_all_reported_before_anything_is_written(store: Store) -> None:
    docs: list[Doc] = [
        ("MCPServer", "github", http_server(colour="red")),
        ("MCPServer", "ok", http_server()),
        ("MCPServer", "ok", http_server()),
        ("Environment", "qa", {"allowAutoApproval": "yes"}),
    ]
    with pytest.raises(ValidationError) as exc:
        await store.apply(docs, actor=ACTOR)
    assert [(e["document"], e["field"]) for e in exc.value.data["errors"]] == [
        (0, "spec.colour"),
        (2, "metadata.name"),
        (3, "spec.allowAutoApproval"),
    ]
    assert [r.name for r in (await store.list("MCPServer")).items] == []


async def test_objects_of_another_file_are_not_taken_over(store: Store) -> None:
    await store.create("MCPServer", "github", http_server(), actor=ACTOR)
    taken = await store.apply([DOCS[2]], actor=ACTOR, managed_by=FILE)
    assert [r.action for r in taken] == ["configured"]
    assert (await store.get("MCPServer", "github")).managed_by == FILE
    for owner in ("api", "file:/somewhere/else.yaml"):
        with pytest.raises(ConflictError) as exc:
            await store.apply([DOCS[2]], actor=ACTOR, managed_by=owner)
        assert (exc.value.code, exc.value.data["document"]) == ("managed_by_file", 0)


async def test_the_refusal_names_the_command_that_takes_the_objects_over(store: Store) -> None:
    await store.apply([DOCS[2]], actor=ACTOR, managed_by="file:/srv/giru-old")
    with pytest.raises(ConflictError) as exc:
        await store.apply([DOCS[2]], actor=ACTOR, managed_by="file:/srv/giru-new", prune=True)
    assert "`giru run --config /srv/giru-new --adopt`" in exc.value.message
    with pytest.raises(ConflictError) as by_api:
        await store.apply([DOCS[2]], actor=ACTOR)
    assert "--adopt" not in by_api.value.message


async def test_adopt_takes_over_a_moved_directory_and_prunes_what_it_no_longer_lists(
    store: Store,
) -> None:
    await store.create("MCPServer", "by-hand", http_server(), actor=ACTOR)
    old, new = "file:/srv/giru-old", "file:/srv/giru-new"
    await store.apply([DOCS[2], ("MCPServer", "jira", http_server())], actor=ACTOR, managed_by=old)
    results = await store.apply([DOCS[2]], actor=ACTOR, managed_by=new, prune=True, adopt=True)
    assert actions(results) == [
        ("MCPServer", "github", "configured"),
        ("MCPServer", "jira", "deleted"),
    ]
    assert (await store.get("MCPServer", "github")).managed_by == new
    assert (await store.get("MCPServer", "by-hand")).managed_by == "api"
    again = await store.apply([DOCS[2]], actor=ACTOR, managed_by=new, prune=True)
    assert actions(again) == [("MCPServer", "github", "unchanged")]


async def test_a_conflict_inside_an_apply_rolls_it_back(store: Store) -> None:
    await store.apply(DOCS[1:], actor=ACTOR)
    pending = subscription(requiresApproval=True)
    await store.create("Subscription", "gated", pending, actor=ACTOR)
    docs: list[Doc] = [
        ("MCPServer", "jira", http_server()),
        ("Subscription", "gated", pending | {"status": "active"}),
    ]
    with pytest.raises(ConflictError) as exc:
        await store.apply(docs, actor=ACTOR)
    assert (exc.value.code, exc.value.data["document"]) == ("approval_required", 1)
    with pytest.raises(NotFoundError):
        await store.get("MCPServer", "jira")


async def test_a_policy_is_applied_after_what_it_selects_and_pruned_before_it(
    store: Store,
) -> None:
    policy = {"packs": ["core", "pci_dss"], "selector": {"servers": ["payments"]}}
    docs: list[Doc] = [
        ("Policy", "pci", policy),
        ("MCPServer", "payments", http_server()),
    ]
    results = await store.apply(docs, actor=ACTOR, managed_by=FILE)
    assert actions(results) == [
        ("Policy", "pci", "created"),
        ("MCPServer", "payments", "created"),
    ]
    assert (await store.get("Policy", "pci")).spec["selector"]["servers"] == ["payments"]
    changed: list[Doc] = [("Policy", "pci", {**policy, "packs": ["core"]}), docs[1]]
    assert [r.action for r in await store.apply(changed, actor=ACTOR, managed_by=FILE)] == [
        "configured",
        "unchanged",
    ]
    assert actions(await store.apply([], actor=ACTOR, managed_by=FILE, prune=True)) == [
        ("Policy", "pci", "deleted"),
        ("MCPServer", "payments", "deleted"),
    ]
    changes = await store.list_changes(kind="Policy", name="pci")
    assert [c.action for c in changes.items] == ["delete", "update", "create"]
