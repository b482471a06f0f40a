"""What the store hands out: frozen dataclasses, never ORM objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

__all__ = [
    "APPLY_ORDER",
    "AdminKeyInfo",
    "Applied",
    "ChangeRecord",
    "KeyInfo",
    "Kind",
    "Page",
    "Resource",
    "SecretRecord",
    "SyncResult",
    "ToolRecord",
]

Kind = Literal[
    "MCPServer",
    "VirtualServer",
    "Client",
    "Subscription",
    "Environment",
    "Policy",
    "IdentityProvider",
]
APPLY_ORDER: tuple[Kind, ...] = (
    "IdentityProvider",
    "Environment",
    "MCPServer",
    "VirtualServer",
    "Client",
    "Subscription",
    "Policy",
)
"""Kinds in dependency order: everything a document may reference is written before it."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Resource:
    """One stored object of a manifest kind.

    `spec` is the canonical camelCase spec; `status` is read-only: servers
    `{health, healthError, lastHealthCheck, tools}`, clients `{keys: [...]}`, subscriptions
    `{approvedBy, approvedAt}`, otherwise `{}`.
    """

    kind: Kind
    name: str
    uid: str
    version: int
    spec: dict[str, Any]
    status: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    managed_by: str


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; pass `next_cursor` back to get the next one (None: the last)."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Applied:
    """The outcome of one document of an apply (`api_key`: a generated key, shown once)."""

    kind: Kind
    name: str
    action: Literal["created", "configured", "unchanged", "deleted"]
    api_key: str | None = None


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A client's API key as the store describes it (never the key, never its hash)."""

    id: str
    client: str
    prefix: str | None
    source: Literal["spec", "generated"]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AdminKeyInfo:
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What one catalog sync of `server` found (`tools`: how many are available now)."""

    server: str
    tools: int
    added: int
    changed: int
    removed: int


@dataclass(frozen=True, slots=True)
class ToolRecord:
    """One upstream tool as last synced; `available` is False once the server stopped listing it.

    `definition` is the tool object exactly as the server listed it.
    """

    server: str
    name: str
    description: str | None
    input_schema: dict[str, Any]
    tags: tuple[str, ...]
    category: str | None
    definition: dict[str, Any]
    definition_hash: str
    available: bool
    first_seen_at: datetime
    last_synced_at: datetime


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """One write, as recorded for the change log."""

    id: str
    at: datetime
    actor: str
    action: str
    kind: str
    name: str
    version: int | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SecretRecord:
    """One secret as the store keeps it: metadata, and the value only sealed (`database`
    backend: `key_id`, `wrapped_key`, `ciphertext`) or as a Vault path (`reference`)."""

    name: str
    backend: str
    version: int
    entries: tuple[str, ...]
    size: int
    created_at: datetime
    updated_at: datetime
    updated_by: str
    reference: str | None = None
    key_id: str | None = None
    wrapped_key: bytes | None = field(default=None, repr=False)
    ciphertext: bytes | None = field(default=None, repr=False)
