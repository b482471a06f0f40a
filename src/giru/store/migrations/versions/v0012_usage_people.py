"""Usage records name the person and the OAuth client acting for them (`person`, `agent`)
apart from `client` (the principal: `user:<email>` for a person), so usage can be grouped by
person and by agent.

Revision ID: 0012_usage_people
Revises: 0011_person_revocations
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_usage_people"
down_revision: str | None = "0011_person_revocations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("person", "agent")
_INDEX = "ix_usage_records_person_at"


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): SQLite keeps the usage_daily view over the table.
    for column in _COLUMNS:
        op.add_column("usage_records", sa.Column(column, sa.Text(), nullable=True))
    op.create_index(_INDEX, "usage_records", ["person", "at"], unique=False)


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="usage_records")
    for column in reversed(_COLUMNS):
        op.drop_column("usage_records", column)
