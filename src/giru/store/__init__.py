"""The control plane's state in SQLite or PostgreSQL (SQLAlchemy 2 async, Alembic migrations).

`Store` is the API; it hands out the frozen dataclasses of `giru.store.records`.
"""

from giru.store.audit import AuditEntry, AuditOrder, AuditQuery
from giru.store.database import Database
from giru.store.records import (
    AdminKeyInfo,
    Applied,
    ChangeRecord,
    KeyInfo,
    Kind,
    Page,
    Resource,
    SyncResult,
    ToolRecord,
)
from giru.store.store import Store

__all__ = [
    "AdminKeyInfo",
    "Applied",
    "AuditEntry",
    "AuditOrder",
    "AuditQuery",
    "ChangeRecord",
    "Database",
    "KeyInfo",
    "Kind",
    "Page",
    "Resource",
    "Store",
    "SyncResult",
    "ToolRecord",
]
