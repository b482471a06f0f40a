"""Subscriptions may be `rejected` (a pending request turned down, `POST .../reject`).

Revision ID: 0015_subscription_rejected
Revises: 0014_tool_trust
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015_subscription_rejected"
down_revision: str | None = "0014_tool_trust"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = "status IN ('pending', 'active', 'suspended', 'expired')"
_AFTER = "status IN ('pending', 'active', 'suspended', 'expired', 'rejected')"


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_constraint(op.f("ck_subscriptions_status"), type_="check")
        batch.create_check_constraint(op.f("ck_subscriptions_status"), _AFTER)


def downgrade() -> None:
    op.execute("UPDATE subscriptions SET status = 'suspended' WHERE status = 'rejected'")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_constraint(op.f("ck_subscriptions_status"), type_="check")
        batch.create_check_constraint(op.f("ck_subscriptions_status"), _BEFORE)
