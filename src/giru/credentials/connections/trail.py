"""`ConnectionTrail`: one audit record per connection operation (action `connections/<op>`:
`connect`, `disconnect`, `refresh`), naming who, which server, whose connection and the outcome;
never a token, a code or a secret."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from giru.audit.records import AuditRecord
from giru.credentials.secretstore import AuditSink
from giru.metering.records import new_event_id

__all__ = ["ConnectionTrail"]


class ConnectionTrail:
    def __init__(self, audit: AuditSink | None, *, node: str = "") -> None:
        self._audit = audit
        self._node = node

    async def record(
        self,
        operation: str,
        *,
        actor: str,
        server: str,
        owner: str,
        outcome: str = "allowed",
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """`owner`: whose connection (a person's label, or `shared`)."""
        if self._audit is None:
            return
        await self._audit.record(
            AuditRecord(
                event_id=new_event_id(),
                at=datetime.now(UTC),
                node=self._node,
                actor=actor,
                action=f"connections/{operation}",
                server=server,
                target=owner,
                outcome=outcome,
                reasons=[reason[:300]] if reason else [],
                policy_revision=None,
                source_ip=None,
                details=dict(details or {}),
            )
        )
