"""`TrustTrail`: the audit records of tool trust, one per transition (action `tool-trust/<op>`):
`pinned` (a first surface trusted on first use), `detected` (a change held for review),
`approved`, `rejected`. They name the server, the tool and the definition hash, never more of
the definition than that."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from giru.audit.records import AuditRecord
from giru.errors import GiruError
from giru.metering.records import new_event_id

__all__ = ["AuditSink", "TrustTrail"]

_log = structlog.get_logger(__name__)


class AuditSink(Protocol):
    async def record(self, record: AuditRecord) -> None: ...


class TrustTrail:
    def __init__(self, audit: AuditSink | None, *, node: str = "") -> None:
        self._audit = audit
        self._node = node

    def entry(
        self,
        operation: str,
        *,
        server: str,
        tool: str | None,
        outcome: str,
        actor: str = "system",
        details: dict[str, Any] | None = None,
    ) -> AuditRecord:
        return AuditRecord(
            event_id=new_event_id(),
            at=datetime.now(UTC),
            node=self._node,
            actor=actor,
            action=f"tool-trust/{operation}",
            server=server,
            target=tool,
            outcome=outcome,
            reasons=[],
            policy_revision=None,
            source_ip=None,
            details=dict(details or {}),
        )

    async def write(self, records: Sequence[AuditRecord]) -> None:
        """Make `records` durable (raises `AuditSpoolError` when the spool refuses them)."""
        if self._audit is None:
            return
        for record in records:
            await self._audit.record(record)

    async def write_or_log(self, records: Sequence[AuditRecord]) -> None:
        """`write`, logging a refusal (for transitions already recorded in the store)."""
        try:
            await self.write(records)
        except GiruError as exc:
            _log.error("tool_trust_audit_failed", error=exc.message, records=len(records))
