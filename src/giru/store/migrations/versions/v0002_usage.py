"""Usage metering: the `usage_records` table, the `usage_daily` view, tenants' time zone.

Revision ID: 0002_usage
Revises: 0001_initial
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_usage"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ERRORS = "'error', 'upstream_error', 'tool_error'"
_REJECTED = "'rate_limited', 'quota_exceeded'"
_DAY = {"sqlite": "date(at)", "postgresql": "CAST((at AT TIME ZONE 'UTC') AS date)"}
_DAILY = """\
CREATE VIEW usage_daily AS
SELECT tenant_id, {day} AS day, subscription, client, server, tool,
       COUNT(*) AS calls,
       SUM(CASE WHEN outcome IN ({errors}) THEN 1 ELSE 0 END) AS errors,
       SUM(CASE WHEN outcome IN ({rejected}) THEN 1 ELSE 0 END) AS rejected,
       SUM(duration_ms) AS duration_ms,
       SUM(bytes_in) AS bytes_in,
       SUM(bytes_out) AS bytes_out
FROM usage_records
GROUP BY tenant_id, {day}, subscription, client, server, tool
"""


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False),
    )
    op.create_table(
        "usage_records",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("node", sa.Text(), nullable=False),
        sa.Column("subscription", sa.Text(), nullable=True),
        sa.Column("client", sa.Text(), nullable=False),
        sa.Column("server", sa.Text(), nullable=False),
        sa.Column("tool", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("bytes_in", sa.BigInteger(), nullable=False),
        sa.Column("bytes_out", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_usage_records_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
        sa.UniqueConstraint("event_id", name=op.f("uq_usage_records_event_id")),
    )
    op.create_index("ix_usage_records_at", "usage_records", ["at"], unique=False)
    op.create_index("ix_usage_records_client_at", "usage_records", ["client", "at"], unique=False)
    op.create_index(
        "ix_usage_records_subscription_at", "usage_records", ["subscription", "at"], unique=False
    )
    day = _DAY[op.get_bind().dialect.name]
    op.execute(_DAILY.format(day=day, errors=_ERRORS, rejected=_REJECTED))


def downgrade() -> None:
    op.execute("DROP VIEW usage_daily")
    op.drop_index("ix_usage_records_subscription_at", table_name="usage_records")
    op.drop_index("ix_usage_records_client_at", table_name="usage_records")
    op.drop_index("ix_usage_records_at", table_name="usage_records")
    op.drop_table("usage_records")
    # Both SQLite (3.35+) and PostgreSQL drop a column in place; a batch copy of `tenants` would
    # trip over the foreign keys every other table holds to it.
    op.execute("ALTER TABLE tenants DROP COLUMN timezone")
