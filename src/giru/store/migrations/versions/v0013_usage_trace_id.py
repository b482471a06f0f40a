"""The OpenTelemetry trace id of each metered call (null when tracing was off), so a usage record
leads to its trace.

Revision ID: 0013_usage_trace_id
Revises: 0012_usage_people
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from giru.store.migrations.versions.v0002_usage import _DAILY, _DAY, _ERRORS
from giru.store.migrations.versions.v0005_policy_outcomes import _POLICY_REJECTED

revision: str = "0013_usage_trace_id"
down_revision: str | None = "0012_usage_people"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("trace_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    """SQLite drops a column by copying the table, which the `usage_daily` view reads: the view
    goes first and comes back as it was."""
    op.execute("DROP VIEW usage_daily")
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("trace_id")
    day = _DAY[op.get_bind().dialect.name]
    op.execute(_DAILY.format(day=day, errors=_ERRORS, rejected=_POLICY_REJECTED))
