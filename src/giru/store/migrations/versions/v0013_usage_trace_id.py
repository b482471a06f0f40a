"""The OpenTelemetry trace id of each metered call (null when tracing was off), so a usage record
leads to its trace.

Revision ID: 0013_usage_trace_id
Revises: 0012_usage_people
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_usage_trace_id"
down_revision: str | None = "0012_usage_people"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("trace_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("trace_id")
