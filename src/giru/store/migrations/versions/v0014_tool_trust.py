"""Tool trust: each server's approved tool surface (pins), one review entry per held tool, and
the servers whose first surface was seen. Servers that exist already are approved with the
surface they list now, so the upgrade hides nothing.

Revision ID: 0014_tool_trust
Revises: 0013_usage_trace_id
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0014_tool_trust"
down_revision: str | None = "0013_usage_trace_id"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As giru.trust.surface defines them at this revision (a migration never follows later code).
_SURFACE = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")
_MAX_DEFINITION_BYTES = 256 * 1024


def upgrade() -> None:
    op.create_table("tool_surfaces", *_columns(), _server(), *_keys("tool_surfaces"))
    op.create_table(
        "tool_pins",
        *_columns(),
        _server(),
        sa.Column("tool", sa.String(length=200), nullable=False),
        sa.Column("definition_hash", sa.String(length=64), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("approved_by", sa.Text(), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        *_keys("tool_pins", "tool"),
    )
    op.create_table(
        "tool_reviews",
        *_columns(),
        _server(),
        sa.Column("tool", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("definition_hash", sa.String(length=64), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("offers", sa.Integer(), nullable=False),
        sa.Column("first_detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "change IN ('added', 'changed', 'removed')", name=op.f("ck_tool_reviews_change")
        ),
        sa.CheckConstraint("state IN ('pending', 'rejected')", name=op.f("ck_tool_reviews_state")),
        *_keys("tool_reviews", "tool"),
    )
    _pin_current_surfaces()


def downgrade() -> None:
    op.drop_table("tool_reviews")
    op.drop_table("tool_pins")
    op.drop_table("tool_surfaces")


def _columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _server() -> sa.Column[Any]:
    return sa.Column("server_id", sa.String(length=36), nullable=False)


def _keys(table: str, *unique: str) -> list[Any]:
    first_seen = (
        [sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False)]
        if table == "tool_surfaces"
        else []
    )
    columns = "_".join(("server_id", *unique))
    return [
        *first_seen,
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["mcp_servers.id"],
            name=op.f(f"fk_{table}_server_id_mcp_servers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("server_id", *unique, name=op.f(f"uq_{table}_{columns}")),
    ]


def _pin_current_surfaces() -> None:
    """Every tool a server lists at the upgrade is approved (by `migration`), and the server's
    first surface counts as seen."""
    bind = op.get_bind()
    tools = sa.table(
        "mcp_tools",
        sa.column("tenant_id", sa.String),
        sa.column("server_id", sa.String),
        sa.column("name", sa.String),
        sa.column("definition", sa.JSON),
        sa.column("available", sa.Boolean),
    )
    pins = sa.table(
        "tool_pins",
        *[sa.column(c, _TYPES.get(c)) for c in _PIN_COLUMNS],
    )
    surfaces = sa.table("tool_surfaces", *[sa.column(c, _TYPES.get(c)) for c in _SURFACE_COLUMNS])
    now = datetime.now(UTC)
    seen: set[tuple[str, str]] = set()
    rows = bind.execute(sa.select(tools).where(tools.c.available.is_(True)))
    for tenant, server, name, definition, _available in rows:
        digest, size, kept = _surface(definition if isinstance(definition, dict) else {})
        bind.execute(
            pins.insert().values(
                id=str(uuid.uuid4()),
                tenant_id=tenant,
                server_id=server,
                tool=name,
                definition_hash=digest,
                definition=kept,
                size=size,
                approved_by="migration",
                approved_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        seen.add((tenant, server))
    for tenant, server in sorted(seen):
        bind.execute(
            surfaces.insert().values(
                id=str(uuid.uuid4()),
                tenant_id=tenant,
                server_id=server,
                first_seen_at=now,
                created_at=now,
                updated_at=now,
            )
        )


_PIN_COLUMNS = (
    "id",
    "tenant_id",
    "server_id",
    "tool",
    "definition_hash",
    "definition",
    "size",
    "approved_by",
    "approved_at",
    "created_at",
    "updated_at",
)
_TYPES: dict[str, Any] = {
    "definition": sa.JSON(),
    "approved_at": sa.DateTime(timezone=True),
    "first_seen_at": sa.DateTime(timezone=True),
    "created_at": sa.DateTime(timezone=True),
    "updated_at": sa.DateTime(timezone=True),
}
_SURFACE_COLUMNS = ("id", "tenant_id", "server_id", "first_seen_at", "created_at", "updated_at")


def _surface(definition: dict[str, Any]) -> tuple[str, int, dict[str, Any] | None]:
    surface = {key: definition[key] for key in _SURFACE if key in definition}
    text = json.dumps(surface, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    data = text.encode("utf-8", "surrogatepass")
    kept = surface if len(data) <= _MAX_DEFINITION_BYTES else None
    return hashlib.sha256(data).hexdigest(), len(data), kept
