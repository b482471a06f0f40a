"""Audit log: the append-only, hash-chained `audit_records` table.

Append-only in the database itself: on PostgreSQL a trigger refuses UPDATE, DELETE and
TRUNCATE (for every role, the owner included, unless triggers are disabled by a superuser) and
PUBLIC loses those privileges; on SQLite BEFORE UPDATE / DELETE triggers abort.

Revision ID: 0004_audit
Revises: 0003_policies
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_audit"
down_revision: str | None = "0003_policies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "audit_records"
_POSTGRESQL_GUARD = (
    """\
CREATE FUNCTION audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_records is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$""",
    """\
CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON audit_records
FOR EACH ROW EXECUTE FUNCTION audit_records_append_only()""",
    """\
CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
FOR EACH STATEMENT EXECUTE FUNCTION audit_records_append_only()""",
    "REVOKE UPDATE, DELETE, TRUNCATE ON audit_records FROM PUBLIC",
)
_SQLITE_GUARD = tuple(
    f"""\
CREATE TRIGGER audit_records_no_{verb.lower()} BEFORE {verb} ON audit_records
BEGIN
    SELECT RAISE(ABORT, 'audit_records is append-only: {verb} refused');
END"""
    for verb in ("UPDATE", "DELETE")
)


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("node", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("server", sa.Text(), nullable=True),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("policy_revision", sa.Text(), nullable=True),
        sa.Column("source_ip", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_audit_records_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_records")),
        sa.UniqueConstraint("event_id", name=op.f("uq_audit_records_event_id")),
        sa.UniqueConstraint("node", "seq", name=op.f("uq_audit_records_node_seq")),
    )
    op.create_index("ix_audit_records_at", _TABLE, ["at"], unique=False)
    op.create_index("ix_audit_records_actor_at", _TABLE, ["actor", "at"], unique=False)
    op.create_index("ix_audit_records_outcome_at", _TABLE, ["outcome", "at"], unique=False)
    op.create_index("ix_audit_records_server_at", _TABLE, ["server", "at"], unique=False)
    guard = _POSTGRESQL_GUARD if op.get_bind().dialect.name == "postgresql" else _SQLITE_GUARD
    for statement in guard:
        op.execute(statement)


def downgrade() -> None:
    # DROP TABLE takes the triggers with it; the guard does not stop it (only the owner can).
    op.drop_index("ix_audit_records_server_at", table_name=_TABLE)
    op.drop_index("ix_audit_records_outcome_at", table_name=_TABLE)
    op.drop_index("ix_audit_records_actor_at", table_name=_TABLE)
    op.drop_index("ix_audit_records_at", table_name=_TABLE)
    op.drop_table(_TABLE)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_records_append_only()")
