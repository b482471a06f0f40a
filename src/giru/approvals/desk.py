"""The administrators' side of the queue: list the calls waiting, approve or deny one; each
decision is an audit record (action `approvals/approve` or `approvals/deny`, the actor who
decided, the ticket, the tool and its redacted argument summary)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Protocol

from giru.approvals.board import ApprovalBoard
from giru.approvals.tickets import Status, Ticket
from giru.audit import AuditRecord

__all__ = ["ApprovalDesk", "RecordSink"]


class RecordSink(Protocol):
    """Where audit records go (`giru.audit.AuditLog`)."""

    async def record(self, record: AuditRecord) -> None: ...


class ApprovalDesk:
    def __init__(self, board: ApprovalBoard, audit: RecordSink | None, *, node: str) -> None:
        self.board = board
        self._audit = audit
        self._node = node

    async def tickets(self) -> list[Ticket]:
        return await self.board.tickets()

    async def decide(
        self,
        ticket_id: str,
        status: Status,
        actor: str,
        reason: str | None = None,
        source_ip: str | None = None,
    ) -> Ticket:
        """Approve or deny a waiting call as `actor`; durable in the audit log on return.

        Raises:
            NotFoundError: no such ticket.
            ConflictError: it was decided already, or expired.
        """
        ticket = await self.board.decide(ticket_id, status, actor, reason)
        if self._audit is not None:
            await self._audit.record(self._record(ticket, actor, source_ip))
        return ticket

    def _record(self, ticket: Ticket, actor: str, source_ip: str | None) -> AuditRecord:
        verb = "approve" if ticket.status == "approved" else "deny"
        return {
            "event_id": str(uuid.uuid4()),
            "at": datetime.now(UTC),
            "node": self._node,
            "actor": actor,
            "action": f"approvals/{verb}",
            "server": ticket.server,
            "target": ticket.tool,
            "outcome": "allowed" if ticket.status == "approved" else "policy_denied",
            "reasons": [ticket.reason[:500]] if ticket.reason else [],
            "policy_revision": None,
            "source_ip": source_ip,
            "details": {
                "approval": ticket.id,
                "caller": ticket.actor,
                "summary": ticket.summary,
                "controls": list(ticket.controls),
            },
        }
