"""Store contract: create, read, replace and delete objects of every kind, on both backends."""

from __future__ import annotations

from typing import Any

import pytest

from giru.errors import ConflictError, NotFoundError, PreconditionFailedError, ValidationError
from giru.manifests.config import default_environments
from giru.manifests.documents import API_VERSION, KINDS
from giru.store import Kind, Store
from tests.integration.store.data import ACTOR, PEPPER, http_server, seed, subscription

pytestmark = pytest.mark.integration

CASES: list[tuple[Kind, dict[str, Any], dict[str, Any]]] = [
    (
        "IdentityProvider",
        {"issuer": "https://login.example.com", "clientId": "giru"},
        {
            "issuer": "https://login.example.com",
            "mode": "direct",
            "audience": "api://giru",
            "claims": {"groups": "roles"},
        },
    ),
    ("MCPServer", http_server(), http_server(tags=["scm"], enabled=False)),
    ("VirtualServer", {"servers": ["github"]}, {"tools": ["jira__search"], "prefix": False}),
    ("Client", {"servers": ["github"]}, {"servers": ["*"], "tools": ["jira__search"]}),
    ("Subscription", subscription(), subscription(quotaPerDay=10, environment="dev")),
    (
        "Subscription",
        subscription(client=None, subject={"group": "nurses"}),
        subscription(client=None, subject={"user": "alice@hospital.example"}),
    ),
    ("Environment", {"displayName": "QA"}, {"displayName": "QA", "allowAutoApproval": True}),
    (
        "Policy",
        {"packs": ["core"]},
        {
            "packs": ["core", "pci_dss"],
            "selector": {"servers": ["github"], "environments": ["prod"]},
            "data": {"pci_dss": {"mask_results": False}},
        },
    ),
]


def canonical(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    document = {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}
    return KINDS[kind].model_validate(document).spec.model_dump(mode="json", by_alias=True)


def fields(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [error["field"] for error in exc.value.data["errors"]]


async def test_open_seeds_the_default_environments_once(store: Store, database_url: str) -> None:
    page = await store.list("Environment")
    expected = {
        name: env.spec.model_dump(mode="json", by_alias=True)
        for name, env in default_environments().items()
    }
    assert {r.name: r.spec for r in page.items} == expected
    assert {r.managed_by for r in page.items} == {"system"}
    await store.delete("Environment", "staging", actor=ACTOR)
    revision = await store.revision()
    again = await Store.open(database_url, pepper=PEPPER)
    try:
        assert [r.name for r in (await again.list("Environment")).items] == [
            "dev",
            "prod",
            "staging",
        ]
        assert await again.revision() == revision + 1
    finally:
        await again.aclose()


@pytest.mark.parametrize(("kind", "spec", "changed"), CASES, ids=[c[0] for c in CASES])
async def test_every_kind_is_created_read_replaced_and_deleted(
    store: Store, kind: Kind, spec: dict[str, Any], changed: dict[str, Any]
) -> None:
    await seed(store)
    created, _ = await store.create(kind, "obj", spec, actor=ACTOR)
    assert (created.kind, created.name, created.version, created.managed_by) == (
        kind,
        "obj",
        1,
        "api",
    )
    assert created.spec == canonical(kind, "obj", spec) | _resolved(kind, spec)
    assert created.created_at.utcoffset() is not None
    assert await store.get(kind, "obj") == created
    replaced = await store.replace(kind, "obj", changed, actor=ACTOR, expected_version=1)
    assert replaced.version == 2
    assert replaced.spec == canonical(kind, "obj", changed) | _resolved(kind, changed)
    assert replaced.uid == created.uid
    assert replaced.created_at == created.created_at
    assert replaced.updated_at >= created.updated_at
    assert "obj" in [r.name for r in (await store.list(kind)).items]
    await store.delete(kind, "obj", actor=ACTOR, expected_version=2)
    with pytest.raises(NotFoundError):
        await store.get(kind, "obj")
    with pytest.raises(NotFoundError):
        await store.delete(kind, "obj", actor=ACTOR)


def _resolved(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """What the store fills in: a subscription's status."""
    return {"status": "active"} if kind == "Subscription" and "status" not in spec else {}


async def test_specs_round_trip_in_canonical_form(store: Store) -> None:
    await seed(store)
    spec = subscription(
        scopeType="selective",
        scopeTools=["search", "get_issue"],
        rateLimitRps=5,
        burst=10,
        constraints={"repos": ["a/b"], "nested": {"n": 1.5}},
        startsAt="2026-01-01T02:00:00.250000+02:00",
        expiresAt="2027-01-01T00:00:00Z",
    )
    created, _ = await store.create("Subscription", "sub", spec, actor=ACTOR)
    assert created.spec["startsAt"] == "2026-01-01T00:00:00.250000Z"
    assert created.spec["expiresAt"] == "2027-01-01T00:00:00Z"
    assert created.spec["scopeTools"] == ["search", "get_issue"]
    assert created.spec["constraints"] == {"repos": ["a/b"], "nested": {"n": 1.5}}
    assert list(created.spec) == list(canonical("Subscription", "sub", spec))
    server = await store.get("MCPServer", "github")
    assert list(server.spec) == list(canonical("MCPServer", "github", http_server()))
    for resource in (created, server):
        same = await store.replace(resource.kind, resource.name, resource.spec, actor=ACTOR)
        assert same.version == resource.version


async def test_replacing_with_an_equivalent_spec_changes_nothing(store: Store) -> None:
    await store.create("MCPServer", "github", http_server(), actor=ACTOR)
    revision = await store.revision()
    explicit = http_server(timeouts={"connect": "10s", "call": 60, "callMax": "10m"}, enabled=True)
    same = await store.replace("MCPServer", "github", explicit, actor=ACTOR, expected_version=1)
    assert same.version == 1
    assert await store.revision() == revision
    changes = await store.list_changes(kind="MCPServer", name="github")
    assert [c.action for c in changes.items] == ["create"]


async def test_a_stale_expected_version_is_refused(store: Store) -> None:
    await store.create("MCPServer", "github", http_server(), actor=ACTOR)
    await store.replace("MCPServer", "github", http_server(tags=["a"]), actor=ACTOR)
    with pytest.raises(PreconditionFailedError) as exc:
        await store.replace(
            "MCPServer", "github", http_server(tags=["b"]), actor=ACTOR, expected_version=1
        )
    assert exc.value.code == "precondition_failed"
    assert exc.value.data["version"] == 2
    with pytest.raises(PreconditionFailedError):
        await store.delete("MCPServer", "github", actor=ACTOR, expected_version=3)
    assert (await store.get("MCPServer", "github")).spec["tags"] == ["a"]


async def test_a_duplicate_name_already_exists(store: Store) -> None:
    await store.create("MCPServer", "github", http_server(), actor=ACTOR)
    with pytest.raises(ConflictError) as exc:
        await store.create("MCPServer", "github", http_server(tags=["x"]), actor=ACTOR)
    assert exc.value.code == "already_exists"
    assert (await store.get("MCPServer", "github")).spec["tags"] == []


@pytest.mark.parametrize(
    ("kind", "spec", "expected"),
    [
        ("Subscription", subscription(client="nobody"), ["spec.client"]),
        ("Subscription", subscription(server="nothing"), ["spec.server"]),
        ("Subscription", subscription(environment="qa"), ["spec.environment"]),
        ("VirtualServer", {"servers": ["github", "nope"]}, ["spec.servers[1]"]),
        (
            "VirtualServer",
            {"tools": ["github__search", "nope__search", "search"]},
            ["spec.tools[1]", "spec.tools[2]"],
        ),
        (
            "Client",
            {"servers": ["*", "nope"], "tools": ["nope__x"]},
            ["spec.servers[1]", "spec.tools[0]"],
        ),
        (
            "Policy",
            {
                "packs": ["core"],
                "selector": {
                    "servers": ["github", "nope"],
                    "virtualServers": ["vs"],
                    "environments": ["prod", "qa"],
                },
            },
            [
                "spec.selector.servers[1]",
                "spec.selector.virtualServers[0]",
                "spec.selector.environments[1]",
            ],
        ),
    ],
)
async def test_dangling_references_are_validation_errors(
    store: Store, kind: Kind, spec: dict[str, Any], expected: list[str]
) -> None:
    await seed(store)
    revision = await store.revision()
    with pytest.raises(ValidationError) as exc:
        await store.create(kind, "obj", spec, actor=ACTOR)
    assert fields(exc) == expected
    assert await store.revision() == revision
    with pytest.raises(NotFoundError):
        await store.get(kind, "obj")


@pytest.mark.parametrize(
    ("kind", "name", "spec", "expected"),
    [
        ("MCPServer", "github", http_server(bogus=1), ["spec.bogus"]),
        ("MCPServer", "github", {"transport": "stdio"}, ["spec.command"]),
        ("MCPServer", "Not_A_Name", http_server(), ["metadata.name"]),
        ("Subscription", "sub", subscription(scopeType="selective"), ["spec.scopeTools"]),
        ("Environment", "qa", {"allowAutoApproval": "many"}, ["spec.allowAutoApproval"]),
        ("Client", "ci", "not a mapping", ["spec"]),
        ("Client", "ci", {"claims": {"mfa": "yes", "Bad-Key": 1}}, ["spec.claims.Bad-Key"]),
        ("Client", "ci", {"claims": {"mfa": "yes"}}, ["spec.claims.mfa"]),
        ("Policy", "p", {"packs": []}, ["spec.packs"]),
        ("Policy", "p", {"packs": ["core"], "data": {"hipaa": {}}}, ["spec.data.hipaa"]),
        (
            "IdentityProvider",
            "corp",
            {"issuer": "https://idp.example", "clientId": "giru", "clientSecret": "in-clear"},
            ["spec.clientSecret"],
        ),
    ],
)
async def test_invalid_specs_name_each_bad_field(
    store: Store, kind: Kind, name: str, spec: Any, expected: list[str]
) -> None:
    with pytest.raises(ValidationError) as exc:
        await store.create(kind, name, spec, actor=ACTOR)
    assert fields(exc) == expected
    assert all(error["reason"] for error in exc.value.data["errors"])


async def test_objects_in_use_cannot_be_deleted(store: Store) -> None:
    await seed(store)
    await store.create("Subscription", "sub", subscription(environment="dev"), actor=ACTOR)
    await store.create("VirtualServer", "vs", {"tools": ["github__search"]}, actor=ACTOR)
    selector = {"servers": ["github"], "virtualServers": ["vs"], "environments": ["dev"]}
    await store.create("Policy", "pci", {"packs": ["core"], "selector": selector}, actor=ACTOR)
    in_use: list[tuple[Kind, str, list[str]]] = [
        (
            "MCPServer",
            "github",
            ["Client/ci", "Policy/pci", "Subscription/sub", "VirtualServer/vs"],
        ),
        ("Client", "ci", ["Subscription/sub"]),
        ("Environment", "dev", ["Subscription/sub", "Policy/pci"]),
        ("VirtualServer", "vs", ["Policy/pci"]),
    ]
    for kind, name, users in in_use:
        with pytest.raises(ConflictError) as exc:
            await store.delete(kind, name, actor=ACTOR)
        assert (exc.value.code, exc.value.data["usedBy"]) == ("in_use", users)
    await store.delete("Policy", "pci", actor=ACTOR)
    await store.delete("Subscription", "sub", actor=ACTOR)
    await store.delete("VirtualServer", "vs", actor=ACTOR)
    await store.delete("Client", "ci", actor=ACTOR)
    await store.delete("Environment", "dev", actor=ACTOR)
    await store.delete("MCPServer", "github", actor=ACTOR)
    assert [r.name for r in (await store.list("MCPServer")).items] == ["jira"]


async def test_every_write_records_a_change_and_bumps_the_revision(store: Store) -> None:
    start = await store.revision()
    await store.create("MCPServer", "github", http_server(), actor="alice")
    await store.replace("MCPServer", "github", http_server(tags=["a"]), actor="bob")
    await store.delete("MCPServer", "github", actor="carol")
    assert await store.revision() == start + 3
    changes = (await store.list_changes(kind="MCPServer", name="github")).items
    assert [(c.action, c.actor, c.version) for c in changes] == [
        ("delete", "carol", 2),
        ("update", "bob", 2),
        ("create", "alice", 1),
    ]
    assert changes[0].at >= changes[1].at >= changes[2].at


async def test_documents_export_every_object_in_dependency_order(store: Store) -> None:
    await seed(store)
    await store.create("Subscription", "sub", subscription(), actor=ACTOR)
    await store.create("VirtualServer", "vs", {"servers": ["jira"]}, actor=ACTOR)
    await store.create("Policy", "pci", {"packs": ["pci_dss"]}, actor=ACTOR)
    revision, objects, _ = await store.documents()
    assert revision == await store.revision()
    assert [(kind, name) for kind, name, _ in objects] == [
        ("Environment", "dev"),
        ("Environment", "prod"),
        ("Environment", "staging"),
        ("MCPServer", "github"),
        ("MCPServer", "jira"),
        ("VirtualServer", "vs"),
        ("Client", "ci"),
        ("Subscription", "sub"),
        ("Policy", "pci"),
    ]
    for kind, name, spec in objects:
        assert spec == (await store.get(kind, name)).spec
