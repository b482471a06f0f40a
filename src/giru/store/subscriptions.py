"""The `Subscription` and `Environment` kinds: grants, their lifecycle, and their defaults.

A subscription's status is decided by the store: on create it is the spec's, else `pending`
when approval is required (and the environment does not auto-approve), else `active`. Later
it moves only by `approve`, `suspend` and `resume`, by an update naming a status (never from
`pending` to `active` while approval is required), and to `expired` by the sweeper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, joinedload
from sqlalchemy.sql.base import ExecutableOption

from giru.errors import ConflictError
from giru.manifests.documents import EnvironmentSpec, SubscriptionSpec
from giru.store.database import Tx
from giru.store.kinds import KindAdapter, find_row
from giru.store.models import ClientRow, EnvironmentRow, MCPServerRow, SubscriptionRow
from giru.store.policies import policy_users
from giru.store.specs import Problem, dump, ordered, timestamp_text

__all__ = ["TRANSITIONS", "EnvironmentAdapter", "SubscriptionAdapter", "expire", "transition"]

Action = Literal["approve", "reject", "suspend", "resume"]
TRANSITIONS: dict[str, tuple[str, str]] = {
    "approve": ("pending", "active"),
    "reject": ("pending", "rejected"),
    "suspend": ("active", "suspended"),
    "resume": ("suspended", "active"),
}
"""Each action and the (from, to) statuses it moves between."""
AUTO_APPROVER = "system:auto-approval"
_UNAPPROVED = ("pending", "rejected")  # never approved: activating one needs approval
_REFERENCES = (
    ("client", ClientRow, "Client"),
    ("server", MCPServerRow, "MCPServer"),
    ("environment", EnvironmentRow, "Environment"),
)


class SubscriptionAdapter(KindAdapter[SubscriptionRow]):
    kind = "Subscription"
    model = SubscriptionSpec
    row = SubscriptionRow
    filter_columns: ClassVar[Mapping[str, InstrumentedAttribute[Any]]] = {
        "status": SubscriptionRow.status
    }

    def options(self) -> Sequence[ExecutableOption]:
        return (
            joinedload(SubscriptionRow.client),
            joinedload(SubscriptionRow.server),
            joinedload(SubscriptionRow.environment),
        )

    def spec(self, row: SubscriptionRow) -> dict[str, Any]:
        return ordered(
            SubscriptionSpec,
            {
                "client": None if row.client is None else row.client.name,
                "subject": _subject(row),
                "server": row.server.name,
                "environment": None if row.environment is None else row.environment.name,
                "scopeType": row.scope_type,
                "scopeTools": list(row.scope_tools),
                "rateLimitRps": row.rate_limit_rps,
                "burst": row.burst,
                "quotaPerDay": row.quota_per_day,
                "quotaPerMonth": row.quota_per_month,
                "constraints": dict(row.constraints),
                "startsAt": timestamp_text(row.starts_at),
                "expiresAt": timestamp_text(row.expires_at),
                "status": row.status,
                "requiresApproval": row.requires_approval,
            },
        )

    async def statuses(
        self, session: AsyncSession, rows: Sequence[SubscriptionRow]
    ) -> dict[str, dict[str, Any]]:
        return {
            row.id: {"approvedBy": row.approved_by, "approvedAt": timestamp_text(row.approved_at)}
            for row in rows
        }

    async def check(self, tx: Tx, name: str, spec: SubscriptionSpec) -> list[Problem]:
        problems: list[Problem] = []
        for field, table, kind in _REFERENCES:
            wanted = getattr(spec, field)
            if (
                wanted is not None
                and await find_row(tx.session, tx.tenant_id, table, wanted) is None
            ):
                problems.append((f"spec.{field}", f"no {kind} named {wanted!r}"))
        return problems

    async def prepare(
        self, tx: Tx, spec: SubscriptionSpec, current: SubscriptionRow | None
    ) -> SubscriptionSpec:
        needs_approval = spec.requires_approval and not await _auto_approves(tx, spec.environment)
        status: str
        if current is None:
            status = spec.status or ("pending" if needs_approval else "active")
        else:
            status = spec.status or current.status
            if current.status in _UNAPPROVED and status == "active" and needs_approval:
                message = f"Subscription/{current.name} requires approval; approve it instead"
                raise ConflictError(message, code="approval_required")
        return spec.model_copy(update={"status": status})

    async def assign(
        self,
        tx: Tx,
        row: SubscriptionRow,
        spec: SubscriptionSpec,
        previous: dict[str, Any] | None,
    ) -> None:
        row.client = None if spec.client is None else await _get(tx, ClientRow, spec.client)
        row.subject_user = spec.subject.user if spec.subject is not None else None
        row.subject_group = spec.subject.group if spec.subject is not None else None
        row.server = await _get(tx, MCPServerRow, spec.server)
        row.environment = (
            None if spec.environment is None else await _get(tx, EnvironmentRow, spec.environment)
        )
        for column, value in _columns(spec).items():
            setattr(row, column, value)
        was = None if previous is None else previous["status"]
        if spec.requires_approval and spec.status == "active" and was in (None, *_UNAPPROVED):
            # Active without `approve`: the environment auto-approved it, or its writer said so.
            auto = await _auto_approves(tx, spec.environment)
            row.approved_by, row.approved_at = AUTO_APPROVER if auto else tx.actor, tx.now

    extra_filters = ("client", "server", "environment")

    def filter(self, key: str, value: str) -> ColumnElement[bool]:
        if key == "client":
            return SubscriptionRow.client_id.in_(
                select(ClientRow.id).where(ClientRow.name == value)
            )
        if key == "server":
            servers = select(MCPServerRow.id).where(MCPServerRow.name == value)
            return SubscriptionRow.mcp_server_id.in_(servers)
        if key == "environment":
            environments = select(EnvironmentRow.id).where(EnvironmentRow.name == value)
            return SubscriptionRow.environment_id.in_(environments)
        return super().filter(key, value)


def _subject(row: SubscriptionRow) -> dict[str, str | None] | None:
    if row.subject_user is None and row.subject_group is None:
        return None
    return {"user": row.subject_user, "group": row.subject_group}


# Environment fields that were stored but never enforced, removed from the kind: a store written
# before keeps them in `config` (the built-in dev and prod had two), and they are not read back.
_RETIRED = frozenset({"allowAutoRenewal", "requireMfa", "maxRateLimitRps"})


class EnvironmentAdapter(KindAdapter[EnvironmentRow]):
    kind = "Environment"
    model = EnvironmentSpec
    row = EnvironmentRow

    def spec(self, row: EnvironmentRow) -> dict[str, Any]:
        return {key: value for key, value in row.config.items() if key not in _RETIRED}

    async def assign(
        self, tx: Tx, row: EnvironmentRow, spec: EnvironmentSpec, previous: dict[str, Any] | None
    ) -> None:
        row.config = dump(spec)

    async def users(self, session: AsyncSession, row: EnvironmentRow) -> list[str]:
        names = await session.scalars(
            select(SubscriptionRow.name)
            .where(SubscriptionRow.environment_id == row.id)
            .order_by(SubscriptionRow.name)
        )
        found = [f"Subscription/{name}" for name in names]
        return found + await policy_users(session, row, "environments")


def transition(tx: Tx, row: SubscriptionRow, action: Action, reason: str | None = None) -> None:
    """Move `row` by `action`; `ConflictError` code `invalid_transition` from any other status.
    The change record keeps `reason` (why, in the mover's words) when one is given."""
    source, target = TRANSITIONS[action]
    if row.status != source:
        message = f"Subscription/{row.name} is {row.status}; {action} needs {source}"
        data = {"status": row.status, "action": action}
        raise ConflictError(message, code="invalid_transition", data=data)
    row.status = target
    if action == "approve":
        row.approved_by, row.approved_at = tx.actor, tx.now
    row.version += 1
    row.updated_at = tx.now
    detail = {"from": source, "to": target}
    if reason:
        detail["reason"] = reason
    tx.record(action, "Subscription", row.name, row.version, detail)


async def expire(tx: Tx) -> list[str]:
    """Mark every subscription whose `expiresAt` has passed `expired`; their names."""
    query = select(SubscriptionRow).where(
        SubscriptionRow.tenant_id == tx.tenant_id,
        SubscriptionRow.expires_at <= tx.now,
        SubscriptionRow.status != "expired",
    )
    rows = list(await tx.session.scalars(query))
    for row in rows:
        tx.record("expire", "Subscription", row.name, row.version + 1, {"from": row.status})
        row.status, row.version, row.updated_at = "expired", row.version + 1, tx.now
    return sorted(row.name for row in rows)


def _columns(spec: SubscriptionSpec) -> dict[str, Any]:
    return {
        "scope_type": spec.scope_type,
        "scope_tools": list(spec.scope_tools),
        "rate_limit_rps": spec.rate_limit_rps,
        "burst": spec.burst,
        "quota_per_day": spec.quota_per_day,
        "quota_per_month": spec.quota_per_month,
        "constraints": dump(spec)["constraints"],
        "starts_at": spec.starts_at,
        "expires_at": spec.expires_at,
        "status": spec.status,
        "requires_approval": spec.requires_approval,
    }


async def _auto_approves(tx: Tx, environment: str | None) -> bool:
    if environment is None:
        return False
    row = await find_row(tx.session, tx.tenant_id, EnvironmentRow, environment)
    return row is not None and bool(row.config.get("allowAutoApproval"))


async def _get(tx: Tx, table: type[Any], name: str) -> Any:
    row = await find_row(tx.session, tx.tenant_id, table, name)
    if row is None:  # check() has already reported it; this guards against misuse
        raise LookupError(f"{table.__tablename__} {name!r} vanished inside a write transaction")
    return row
