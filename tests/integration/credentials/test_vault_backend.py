"""The `vault` secret backend against a real Vault 1.14.0 (`.tools/bin/vault`, `make peers`):
versioned KV v2 entries at the documented path (checked with the real `vault kv get`), only the
reference in Giru's database, token and AppRole logins, its own token renewed, and 403 / sealed /
stopped Vault reported as `credentials_unavailable`; a file-storage Vault keeps secrets across its
restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from giru.credentials import SecretStore, VaultBackend
from giru.errors import CredentialsUnavailableError
from giru.settings import VaultSettings
from giru.store import Store
from tests.peers import free_port
from tests.services import VaultServer, find_vault

pytestmark = pytest.mark.integration

TOKEN = "ghp_vault-0123456789abcdef012345"
PATH = "giru/test/secrets/github-token"
POLICY = """
path "secret/data/giru/test/*" { capabilities = ["create", "read", "update"] }
path "secret/metadata/giru/test/*" { capabilities = ["read", "delete", "list"] }
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'giru.db'}", pepper=b"p" * 32)
    try:
        yield opened
    finally:
        await opened.aclose()


def vault_store(
    store: Store, settings: VaultSettings, clock: Clock | None = None
) -> tuple[SecretStore, VaultBackend]:
    backend = (
        VaultBackend(settings, environment="test")
        if clock is None
        else VaultBackend(settings, environment="test", clock=clock)
    )
    return SecretStore(store, {"vault": backend}, default="vault", max_bytes=65536), backend


def token_settings(vault: VaultServer, token: str | None = None) -> VaultSettings:
    return VaultSettings(url=vault.url, token=SecretStr(token or vault.root_token), timeout_s=5)


def _files_holding(directory: Path, needle: bytes) -> list[Path]:
    return [path for path in directory.glob("giru.db*") if needle in path.read_bytes()]


def giru_policy(vault: VaultServer, tmp_path: Path) -> None:
    policy = tmp_path / "giru.hcl"
    policy.write_text(POLICY)
    vault.cli("policy", "write", "giru", str(policy))


async def test_writes_are_versioned_in_vault_and_giru_keeps_only_the_reference(
    vault_server: VaultServer, store: Store, tmp_path: Path
) -> None:
    secrets, backend = vault_store(store, token_settings(vault_server))
    try:
        first, _ = await secrets.put("github-token", {"value": "old"}, actor="alice")
        second, _ = await secrets.put("github-token", {"value": TOKEN}, actor="alice")
        assert (first.version, second.version, second.backend) == (1, 2, "vault")
        shown = vault_server.cli("kv", "get", "-mount=secret", PATH)
        assert shown["data"]["data"] == {"value": TOKEN}
        assert shown["data"]["metadata"]["version"] == 2
        record = await secrets.read("github-token", server="github")
        assert await secrets.entries(record, server="github") == {"value": TOKEN}
        async with store.database.read() as session:
            row = (
                await session.execute(text("SELECT reference, ciphertext, key_id FROM secrets"))
            ).one()
        assert tuple(row) == (PATH, None, None)
        assert not _files_holding(tmp_path, TOKEN.encode())
        await secrets.delete("github-token", actor="alice")
        with pytest.raises(Exception, match="No value found"):
            vault_server.cli("kv", "get", "-mount=secret", PATH)
    finally:
        await backend.aclose()


async def test_approle_logs_in_and_a_connection_path_follows_the_template(
    vault_server: VaultServer, store: Store, tmp_path: Path
) -> None:
    giru_policy(vault_server, tmp_path)
    vault_server.cli("auth", "enable", "approle")
    vault_server.cli("write", "auth/approle/role/giru", "token_policies=giru", "token_ttl=1h")
    role_id = vault_server.cli("read", "auth/approle/role/giru/role-id")["data"]["role_id"]
    secret_id = vault_server.cli("write", "-f", "auth/approle/role/giru/secret-id")["data"][
        "secret_id"
    ]
    settings = VaultSettings(
        url=vault_server.url, auth="approle", role_id=role_id, secret_id=SecretStr(secret_id)
    )
    secrets, backend = vault_store(store, settings)
    try:
        await secrets.put("github-token", {"value": TOKEN}, actor="alice")
        path = backend.connection_path("github", "alice@example.com")
        assert path == "giru/test/mcp/github/alice@example.com"
        assert await backend.write(path, {"access_token": "at"}) == 1
        assert await backend.read(path) == ({"access_token": "at"}, 1)
        shown = vault_server.cli("kv", "get", "-mount=secret", path)
        assert shown["data"]["data"] == {"access_token": "at"}
    finally:
        await backend.aclose()


async def test_giru_renews_its_own_token_after_two_thirds_of_its_ttl(
    vault_server: VaultServer, store: Store, tmp_path: Path
) -> None:
    giru_policy(vault_server, tmp_path)
    made = vault_server.cli("token", "create", "-policy=giru", "-ttl=1h", "-renewable=true")
    token = made["auth"]["client_token"]
    clock = Clock()
    secrets, backend = vault_store(store, token_settings(vault_server, token), clock)
    try:
        await secrets.put("github-token", {"value": "v1"}, actor="alice")
        assert not vault_server.cli("token", "lookup", token)["data"].get("last_renewal_time")
        clock.now += 2500  # past two thirds of an hour
        await secrets.put("github-token", {"value": "v2"}, actor="alice")
        assert vault_server.cli("token", "lookup", token)["data"].get("last_renewal_time")
    finally:
        await backend.aclose()


async def test_a_token_without_the_policy_is_refused_as_credentials_unavailable(
    vault_server: VaultServer, store: Store
) -> None:
    weak = vault_server.cli("token", "create", "-policy=default", "-ttl=1h")["auth"]["client_token"]
    secrets, backend = vault_store(store, token_settings(vault_server, weak))
    try:
        with pytest.raises(CredentialsUnavailableError, match="403"):
            await secrets.put("github-token", {"value": TOKEN}, actor="alice")
    finally:
        await backend.aclose()


async def test_a_sealed_or_stopped_vault_is_credentials_unavailable(
    vault_server: VaultServer, store: Store
) -> None:
    secrets, backend = vault_store(store, token_settings(vault_server))
    try:
        await secrets.put("github-token", {"value": TOKEN}, actor="alice")
        record = await secrets.read("github-token", server="github")
        vault_server.cli("operator", "seal")
        with pytest.raises(CredentialsUnavailableError, match="sealed"):
            await secrets.entries(record, server="github")
        vault_server.stop()
        with pytest.raises(CredentialsUnavailableError, match="unreachable"):
            await secrets.entries(record, server="github")
        with pytest.raises(CredentialsUnavailableError, match="unreachable"):
            await secrets.put("github-token", {"value": "x"}, actor="alice")
    finally:
        await backend.aclose()


async def test_a_file_storage_vault_keeps_secrets_across_its_restart(
    store: Store, tmp_path: Path
) -> None:
    workdir = tmp_path / "vault"
    workdir.mkdir()
    vault = VaultServer(find_vault(), free_port(), workdir, storage=tmp_path / "vault-data")
    vault.start()
    try:
        secrets, backend = vault_store(store, token_settings(vault))
        try:
            await secrets.put("github-token", {"value": TOKEN}, actor="alice")
            vault.stop()
            vault.start()
            record = await secrets.read("github-token", server="github")
            assert await secrets.entries(record, server="github") == {"value": TOKEN}
        finally:
            await backend.aclose()
    finally:
        vault.stop()
