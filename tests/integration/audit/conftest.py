"""The audit log against the real backends: a SQLite file and a real PostgreSQL (both per test)."""

from __future__ import annotations

from tests.integration.cli.conftest import api
from tests.integration.store.conftest import database_url, store

__all__ = ["api", "database_url", "store"]
