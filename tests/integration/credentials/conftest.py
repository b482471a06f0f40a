"""The secret store over a real store (a SQLite file, and a real PostgreSQL) with the real audit
log; Vault tests start `.tools/bin/vault` (see vault.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from giru.audit import AuditLog
from giru.credentials import DatabaseBackend, Keyring, SecretStore
from giru.store import Store
from tests.integration.store.conftest import database_url, store

__all__ = ["audit_log", "database_url", "secret_store", "store"]

KEY = bytes(range(32)).hex()


@pytest.fixture
async def audit_log(store: Store, tmp_path: Path) -> AsyncIterator[AuditLog]:
    log = await AuditLog.open(store, tmp_path / "audit-spool")
    try:
        yield log
    finally:
        await log.aclose()


@pytest.fixture
def secret_store(store: Store, audit_log: AuditLog) -> SecretStore:
    backend = DatabaseBackend(Keyring.from_text([KEY]))
    return SecretStore(
        store,
        {"database": backend},
        default="database",
        max_bytes=64 * 1024,
        audit=audit_log,
        node="test-node",
    )
