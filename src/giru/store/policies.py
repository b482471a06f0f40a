"""The `Policy` kind: which policy packs apply where (its selector), with their data.

A policy's selector names servers, virtual servers and environments that must exist when it is
written; while a policy names one, that object cannot be deleted (its users list the policy),
so a selector never dangles and a stored policy is never dropped from the compiled config.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from giru.manifests.documents import PolicySpec
from giru.store.database import Tx
from giru.store.kinds import KindAdapter, existing_names
from giru.store.models import EnvironmentRow, MCPServerRow, PolicyRow, ResourceRow, VirtualServerRow
from giru.store.specs import Problem, dump

__all__ = ["SELECTOR_TARGETS", "PolicyAdapter", "policy_users"]

SELECTOR_TARGETS: tuple[tuple[str, type[ResourceRow], str], ...] = (
    ("servers", MCPServerRow, "MCPServer"),
    ("virtualServers", VirtualServerRow, "VirtualServer"),
    ("environments", EnvironmentRow, "Environment"),
)
"""(selector field, table, kind) of every reference a policy's selector makes."""


class PolicyAdapter(KindAdapter[PolicyRow]):
    """The whole canonical spec is `config`."""

    kind = "Policy"
    model = PolicySpec
    row = PolicyRow

    def spec(self, row: PolicyRow) -> dict[str, Any]:
        return dict(row.config)

    async def check(self, tx: Tx, name: str, spec: PolicySpec) -> list[Problem]:
        selector = dump(spec)["selector"]
        problems: list[Problem] = []
        for field, table, kind in SELECTOR_TARGETS:
            names: Sequence[str] = selector[field]
            known = await existing_names(tx.session, tx.tenant_id, table, names)
            problems += [
                (f"spec.selector.{field}[{i}]", f"no {kind} named {target!r}")
                for i, target in enumerate(names)
                if target not in known
            ]
        return problems

    async def assign(
        self, tx: Tx, row: PolicyRow, spec: PolicySpec, previous: dict[str, Any] | None
    ) -> None:
        row.config = dump(spec)


async def policy_users(session: AsyncSession, row: ResourceRow, field: str) -> list[str]:
    """`Policy/<name>` of every policy whose `spec.selector.<field>` names `row`."""
    configs = await session.execute(
        select(PolicyRow.name, PolicyRow.config)
        .where(PolicyRow.tenant_id == row.tenant_id)
        .order_by(PolicyRow.name)
    )
    return [
        f"Policy/{name}"
        for name, config in configs
        if row.name in (config.get("selector") or {}).get(field, ())
    ]
