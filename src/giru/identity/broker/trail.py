"""Audit records of the authorization server: sign-in, consent, token issue, refresh-token
reuse, code replay, revocation and registration. Secrets never enter them: a token or code
appears only as its SHA-256 (`giru.identity.broker.tokens.digest`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

from giru.audit.records import AuditRecord

__all__ = ["AuditSink", "OAuthTrail"]


class AuditSink(Protocol):
    """Where records go (`giru.audit.AuditLog`)."""

    async def record(self, record: AuditRecord) -> None: ...


class OAuthTrail:
    """Makes and records one audit record per authorization-server event."""

    def __init__(self, sink: AuditSink | None, node: str) -> None:
        self._sink = sink
        self._node = node

    async def event(
        self,
        action: str,
        *,
        actor: str,
        outcome: str,
        target: str | None,
        source_ip: str | None,
        reasons: list[str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        if self._sink is None:
            return
        record: AuditRecord = {
            "event_id": str(uuid.uuid4()),
            "at": datetime.now(UTC),
            "node": self._node,
            "actor": actor,
            "action": f"oauth/{action}",
            "server": None,
            "target": target,
            "outcome": outcome,
            "reasons": reasons or [],
            "policy_revision": None,
            "source_ip": source_ip,
            "details": details or {},
        }
        await self._sink.record(record)
