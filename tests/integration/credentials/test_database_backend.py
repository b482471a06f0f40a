"""The `database` secret backend on SQLite and PostgreSQL: no plaintext in the database's own
files, versions, metadata, audit records without values, and a key rotation that re-wraps."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from sqlalchemy import text

from giru.audit import AuditLog
from giru.credentials import DatabaseBackend, Keyring, SecretStore, SecretTooLargeError
from giru.errors import CredentialsUnavailableError, NotFoundError, ValidationError
from giru.store import AuditQuery, Store
from tests.integration.credentials.conftest import KEY
from tests.services import PostgresServer

pytestmark = pytest.mark.integration


def _token() -> str:
    return "ghp_" + secrets.token_hex(20)


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


async def _database_files(store: Store, database_url: str, request: pytest.FixtureRequest) -> Path:
    """Where the database keeps its bytes, with everything written out to them."""
    if store.database.dialect == "sqlite":
        return Path(database_url.removeprefix("sqlite+aiosqlite:///")).parent
    async with store.database.engine.connect() as connection:
        await connection.execute(text("CHECKPOINT"))
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.data_dir


async def test_the_secrets_table_and_the_database_files_hold_no_plaintext(
    secret_store: SecretStore, store: Store, database_url: str, request: pytest.FixtureRequest
) -> None:
    token = _token()
    await secret_store.put("github-token", {"value": token}, actor="alice")
    await secret_store.put("github-token", {"value": token, "user": "octocat"}, actor="alice")
    async with store.database.read() as session:
        rows = (await session.execute(text("SELECT * FROM secrets"))).all()
    assert len(rows) == 1
    assert token.encode() not in repr(rows).encode()
    files = await _database_files(store, database_url, request)
    assert _files_holding(files, b"github-token"), "the name is stored: the search works"
    assert _files_holding(files, token.encode()) == []


async def test_a_secret_reads_back_for_a_call_and_its_metadata_has_no_value(
    secret_store: SecretStore,
) -> None:
    token = _token()
    first, created = await secret_store.put("github-token", {"value": token}, actor="alice")
    second, again = await secret_store.put("github-token", {"value": token + "x"}, actor="bob")
    assert (created, again) == (True, False)
    assert (first.version, second.version) == (1, 2)
    info = await secret_store.info("github-token")
    assert (info.backend, info.entries, info.updated_by) == ("database", ("value",), "bob")
    assert token not in repr(info)
    record = await secret_store.read("github-token", server="github")
    assert await secret_store.entries(record, server="github") == {"value": token + "x"}


async def test_every_operation_is_audited_without_its_value(
    secret_store: SecretStore, audit_log: AuditLog, store: Store
) -> None:
    token = _token()
    await secret_store.put("github-token", {"value": token}, actor="alice")
    record = await secret_store.read("github-token", server="github")
    await secret_store.entries(record, server="github")
    with pytest.raises(CredentialsUnavailableError):
        await secret_store.read("missing", server="github")
    await secret_store.rotate_key(actor="admin")
    await secret_store.delete("github-token", actor="alice")
    assert await audit_log.flush()
    page = await store.list_audit(AuditQuery(), order="oldest")
    seen = [(e.actor, e.action, e.server, e.target, e.outcome) for e in page.items]
    assert seen == [
        ("alice", "secrets/set", None, "github-token", "allowed"),
        ("gateway", "secrets/read", "github", "github-token", "allowed"),
        ("gateway", "secrets/read", "github", "missing", "error"),
        ("admin", "secrets/rotate-key", None, None, "allowed"),
        ("alice", "secrets/delete", None, "github-token", "allowed"),
    ]
    assert token not in repr(page.items)


async def test_a_too_large_secret_is_refused_and_audited_as_a_bad_request(
    secret_store: SecretStore, audit_log: AuditLog, store: Store
) -> None:
    with pytest.raises(SecretTooLargeError, match="at most 65536"):
        await secret_store.put("big", {"value": "x" * (10 * 1024 * 1024)}, actor="alice")
    with pytest.raises(ValidationError, match="invalid secret name"):
        await secret_store.put("../etc/passwd", {"value": "x"}, actor="alice")
    assert await audit_log.flush()
    [entry] = (await store.list_audit(AuditQuery())).items
    assert (entry.action, entry.target, entry.outcome) == ("secrets/set", "big", "bad_request")
    with pytest.raises(NotFoundError):
        await secret_store.info("big")


async def test_rotation_rewraps_every_data_key_and_old_values_still_open(
    store: Store, secret_store: SecretStore
) -> None:
    tokens = {f"token-{i}": _token() for i in range(150)}  # more than one batch
    for name, token in tokens.items():
        await secret_store.put(name, {"value": token}, actor="alice")
    new_key = secrets.token_hex(32)
    rotating = SecretStore(
        store,
        {"database": DatabaseBackend(Keyring.from_text([new_key, KEY]))},
        default="database",
        max_bytes=65536,
    )
    rotation = await rotating.rotate_key(actor="admin")
    assert (rotation.rewrapped, rotation.failed, rotation.generated) == (150, 0, False)
    assert (await rotating.rotate_key(actor="admin")).rewrapped == 0
    only_new = SecretStore(
        store,
        {"database": DatabaseBackend(Keyring.from_text([new_key]))},
        default="database",
        max_bytes=65536,
    )
    for name in ("token-0", "token-149"):
        record = await only_new.read(name, server=None)
        assert await only_new.entries(record, server=None) == {"value": tokens[name]}


async def test_rotation_with_the_embedded_key_file_makes_a_new_key_and_drops_the_old(
    store: Store, tmp_path: Path
) -> None:
    key_file = tmp_path / "giru.secrets-key"
    key_file.write_text(KEY + "\n")
    backend = DatabaseBackend(Keyring.from_text([KEY]))
    embedded = SecretStore(
        store, {"database": backend}, default="database", max_bytes=65536, key_file=key_file
    )
    token = _token()
    await embedded.put("github-token", {"value": token}, actor="alice")
    rotation = await embedded.rotate_key(actor="admin")
    assert (rotation.rewrapped, rotation.generated) == (1, True)
    [new_key] = key_file.read_text().split()
    assert new_key != KEY
    assert key_file.stat().st_mode & 0o777 == 0o600
    fresh = SecretStore(
        store,
        {"database": DatabaseBackend(Keyring.from_text([new_key]))},
        default="database",
        max_bytes=65536,
    )
    record = await fresh.read("github-token", server=None)
    assert await fresh.entries(record, server=None) == {"value": token}


async def test_a_secret_sealed_by_a_key_this_process_lacks_is_unavailable_not_garbage(
    store: Store, secret_store: SecretStore
) -> None:
    await secret_store.put("github-token", {"value": _token()}, actor="alice")
    stranger = SecretStore(
        store,
        {"database": DatabaseBackend(Keyring.from_text([secrets.token_hex(32)]))},
        default="database",
        max_bytes=65536,
    )
    record = await stranger.read("github-token", server=None)
    with pytest.raises(CredentialsUnavailableError, match="does not hold"):
        await stranger.entries(record, server=None)
    assert (await stranger.rotate_key(actor="admin")).failed == 1


async def test_listing_pages_by_name(secret_store: SecretStore) -> None:
    for name in ("c", "a", "b"):
        await secret_store.put(name, {"value": "v"}, actor="alice")
    first = await secret_store.list(limit=2)
    assert [r.name for r in first.items] == ["a", "b"]
    rest = await secret_store.list(limit=2, cursor=first.next_cursor)
    assert ([r.name for r in rest.items], rest.next_cursor) == (["c"], None)
