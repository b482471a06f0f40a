"""Store contract: client keys (generated once, HMAC stored, rotated, revoked) and admin keys."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from giru.access.apikeys import hmac_hash, key_id, sha256_hash
from giru.errors import ConflictError, NotFoundError, ValidationError
from giru.store import Store
from tests.integration.store.data import ACTOR, PEPPER

pytestmark = pytest.mark.integration


async def stored_text(store: Store, table: str) -> str:
    async with store.database.engine.connect() as connection:
        rows = (await connection.execute(text(f"SELECT * FROM {table}"))).all()
    return repr(rows)


async def client_hashes(store: Store) -> dict[str, tuple[str, ...]]:
    return (await store.documents())[2]


def filed(key: str) -> str:
    """A generated key's hash as the data path reads it: filed under the key's identifier."""
    return f"{key_id(key)}:{hmac_hash(key, PEPPER)}"


async def test_a_client_without_key_fields_gets_a_key_shown_once(store: Store) -> None:
    created, key = await store.create("Client", "ci", {}, actor=ACTOR)
    assert key is not None
    assert key.startswith("giru_")
    assert len(key) == 60  # giru_<11-character id>_<43-character secret>
    [listed] = created.status["keys"]
    assert (listed["prefix"], listed["source"]) == (key[:16], "generated")
    assert await client_hashes(store) == {"ci": (filed(key),)}
    for table in ("client_keys", "clients", "changes"):
        assert key not in await stored_text(store, table)
    assert hmac_hash(key, PEPPER) in await stored_text(store, "client_keys")
    again = await store.get("Client", "ci")
    assert again.status["keys"] == created.status["keys"]


async def test_a_client_with_a_key_field_gets_no_generated_key(store: Store) -> None:
    env, key = await store.create("Client", "env", {"apiKeyEnv": "ENV_KEY"}, actor=ACTOR)
    assert key is None
    assert env.status["keys"] == []
    digest = sha256_hash("giru_spec-key")
    spec, key = await store.create("Client", "spec", {"apiKeyHash": digest}, actor=ACTOR)
    assert key is None
    assert [(k["source"], k["prefix"]) for k in spec.status["keys"]] == [("spec", None)]
    assert await client_hashes(store) == {}
    with pytest.raises(ConflictError) as exc:
        await store.revoke_client_key("spec", spec.status["keys"][0]["id"], actor=ACTOR)
    assert exc.value.code == "managed_by_spec"


async def test_a_spec_key_follows_the_spec(store: Store) -> None:
    first, second = sha256_hash("giru_one"), sha256_hash("giru_two")
    created, _ = await store.create("Client", "ci", {"apiKeyHash": first}, actor=ACTOR)
    replaced = await store.replace("Client", "ci", {"apiKeyHash": second}, actor=ACTOR)
    [key] = replaced.status["keys"]
    assert key["source"] == "spec"
    assert key["id"] != created.status["keys"][0]["id"]
    assert second in await stored_text(store, "client_keys")
    dropped = await store.replace("Client", "ci", {"apiKeyEnv": "CI_KEY"}, actor=ACTOR)
    assert dropped.status["keys"] == []


async def test_rotation_adds_a_key_and_revocation_removes_it_from_documents(store: Store) -> None:
    _, old = await store.create("Client", "ci", {}, actor=ACTOR)
    assert old is not None
    revision = await store.revision()
    info, new = await store.add_client_key("ci", actor="ops")
    assert (info.client, info.prefix, info.source) == ("ci", new[:16], "generated")
    assert await client_hashes(store) == {"ci": (filed(old), filed(new))}
    [first, second] = await store.list_client_keys("ci")
    assert second == info
    await store.revoke_client_key("ci", first.id, actor="ops")
    assert await client_hashes(store) == {"ci": (filed(new),)}
    assert await store.list_client_keys("ci") == [info]
    assert await store.revision() == revision + 2
    with pytest.raises(NotFoundError):
        await store.revoke_client_key("ci", first.id, actor="ops")
    changes = await store.list_changes(kind="Client", name="ci")
    assert [c.action for c in changes.items] == ["revoke_key", "add_key", "create"]
    assert (await store.get("Client", "ci")).version == 1


async def test_key_calls_on_an_unknown_client_are_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.add_client_key("nobody", actor=ACTOR)
    with pytest.raises(NotFoundError):
        await store.list_client_keys("nobody")
    with pytest.raises(NotFoundError):
        await store.revoke_client_key("nobody", "id", actor=ACTOR)


@pytest.mark.parametrize("field", ["apiKeyHash", "apiKeyEnv"])
async def test_two_clients_cannot_share_a_key(store: Store, field: str) -> None:
    value = sha256_hash("giru_shared") if field == "apiKeyHash" else "SHARED_KEY"
    await store.create("Client", "one", {field: value}, actor=ACTOR)
    with pytest.raises(ValidationError) as exc:
        await store.create("Client", "two", {field: value}, actor=ACTOR)
    assert exc.value.data["errors"] == [
        {"field": f"spec.{field}", "reason": "same key as Client/one"}
    ]
    same = await store.replace("Client", "one", {field: value, "servers": []}, actor=ACTOR)
    assert same.version == 1


async def test_admin_keys_are_created_listed_and_revoked(store: Store) -> None:
    assert not await store.has_admin_keys()
    info, token = await store.create_admin_key("alice", "operator", actor="root")
    assert (info.name, info.role, info.revoked_at) == ("alice", "operator", None)
    assert await store.admin_keys() == {hmac_hash(token, PEPPER): info}
    assert token not in await stored_text(store, "admin_keys")
    with pytest.raises(ConflictError):
        await store.create_admin_key("alice", "admin", actor="root")
    await store.revoke_admin_key("alice", actor="root")
    assert not await store.has_admin_keys()
    [revoked] = await store.list_admin_keys()
    assert revoked.revoked_at is not None
    with pytest.raises(NotFoundError):
        await store.revoke_admin_key("alice", actor="root")
    again, fresh = await store.create_admin_key("alice", "viewer", actor="root")
    assert fresh != token
    assert again.revoked_at is None
    assert await store.admin_keys() == {hmac_hash(fresh, PEPPER): again}


async def test_ensure_admin_key_is_idempotent_and_follows_the_token(store: Store) -> None:
    await store.ensure_admin_key("bootstrap", "giru_first-token", "admin")
    revision = await store.revision()
    await store.ensure_admin_key("bootstrap", "giru_first-token", "admin")
    assert await store.revision() == revision
    await store.ensure_admin_key("bootstrap", "giru_second-token", "admin")
    assert list(await store.admin_keys()) == [hmac_hash("giru_second-token", PEPPER)]
    assert len(await store.list_admin_keys()) == 1


@pytest.mark.parametrize(
    ("name", "role", "field"), [("ok", "root", "role"), ("bad name", "admin", "name")]
)
async def test_admin_key_names_and_roles_are_validated(
    store: Store, name: str, role: str, field: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        await store.create_admin_key(name, role, actor=ACTOR)
    assert [e["field"] for e in exc.value.data["errors"]] == [field]
