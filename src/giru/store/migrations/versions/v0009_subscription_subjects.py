"""Subscriptions of people: `spec.subject` (`user` or `group`) instead of a client.

Revision ID: 0009_subscription_subjects
Revises: 0008_oauth
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_subscription_subjects"
down_revision: str | None = "0008_oauth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.alter_column("client_id", existing_type=sa.String(length=36), nullable=True)
        batch.add_column(sa.Column("subject_user", sa.Text(), nullable=True))
        batch.add_column(sa.Column("subject_group", sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM subscriptions WHERE client_id IS NULL")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("subject_group")
        batch.drop_column("subject_user")
        batch.alter_column("client_id", existing_type=sa.String(length=36), nullable=False)
