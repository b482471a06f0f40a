"""Calls refused by policy count as rejected in `usage_daily`, like rate and quota refusals.

Revision ID: 0005_policy_outcomes
Revises: 0004_audit
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from giru.store.migrations.versions.v0002_usage import _DAILY, _DAY, _ERRORS, _REJECTED

revision: str = "0005_policy_outcomes"
down_revision: str | None = "0004_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_POLICY_REJECTED = _REJECTED + ", 'policy_denied', 'policy_unavailable'"


def _recreate(rejected: str) -> None:
    op.execute("DROP VIEW usage_daily")
    day = _DAY[op.get_bind().dialect.name]
    op.execute(_DAILY.format(day=day, errors=_ERRORS, rejected=rejected))


def upgrade() -> None:
    _recreate(_POLICY_REJECTED)


def downgrade() -> None:
    _recreate(_REJECTED)
