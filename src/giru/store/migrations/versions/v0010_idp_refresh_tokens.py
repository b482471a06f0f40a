"""The IdP's refresh token beside each authorization code and refresh-token family, sealed with
the identity key-encryption key (never in clear), so a refresh at Giru refreshes at the IdP and
re-reads the person's claims.

Revision ID: 0010_idp_refresh_tokens
Revises: 0009_subscription_subjects
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_idp_refresh_tokens"
down_revision: str | None = "0009_subscription_subjects"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("oauth_codes", "oauth_refresh_families")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("sealed_idp_refresh_token", sa.Text(), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("sealed_idp_refresh_token")
