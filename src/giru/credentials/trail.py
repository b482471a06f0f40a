"""`CredentialsTrail`: the audit records of everything Giru does with credentials, built one
way: secret operations (`secrets/<op>`), token requests (`credentials/token`) and connection
operations (`connections/<op>`) each name who, which server, what (`target`) and the outcome,
with short reasons on failure; never a value, a token, a code or a secret."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from giru.audit.records import AuditRecord
from giru.metering.records import new_event_id

__all__ = ["AuditSink", "CredentialsTrail"]

_MAX_REASON = 300


class AuditSink(Protocol):
    """Where audit records go (`giru.audit.AuditLog`)."""

    async def record(self, record: AuditRecord) -> None: ...


class CredentialsTrail:
    """Writes credential audit records into an `AuditSink` (a no-op without one)."""

    def __init__(self, audit: AuditSink | None, *, node: str = "") -> None:
        self._audit = audit
        self._node = node

    async def record(
        self,
        action: str,
        *,
        actor: str,
        server: str | None,
        target: str | None,
        outcome: str = "allowed",
        reasons: Sequence[str] = (),
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """One record of `action` (`secrets/set`, `credentials/token`, ...); each reason is
        cut to 300 characters."""
        if self._audit is None:
            return
        await self._audit.record(
            AuditRecord(
                event_id=new_event_id(),
                at=datetime.now(UTC),
                node=self._node,
                actor=actor,
                action=action,
                server=server,
                target=target,
                outcome=outcome,
                reasons=[reason[:_MAX_REASON] for reason in reasons],
                policy_revision=None,
                source_ip=None,
                details=dict(details or {}),
            )
        )
