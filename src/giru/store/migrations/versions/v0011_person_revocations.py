"""People whose access an administrator revoked (`giru users revoke EMAIL`): a not-before time
per person; access tokens issued before it are refused.

Revision ID: 0011_person_revocations
Revises: 0010_idp_refresh_tokens
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_person_revocations"
down_revision: str | None = "0010_idp_refresh_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "person_revocations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("label", sa.String(length=320), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_person_revocations_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_revocations")),
        sa.UniqueConstraint(
            "tenant_id", "label", name=op.f("uq_person_revocations_tenant_id_label")
        ),
    )


def downgrade() -> None:
    op.drop_table("person_revocations")
