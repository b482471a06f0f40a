"""A person approves a call before it runs (policy's `approve`, e.g. tools tagged destructive).

The caller's own client is asked first when it can be: a form-mode elicitation "Allow <tool>
with <arguments>? yes/no", sent on its session (2025-06-18 and 2025-11-25) or answered as an
`input_required` result (2026-07-28), through the same relay that carries an upstream's
questions. A client that cannot elicit (no `elicitation` form capability, no stream to ask on)
leaves the call to the administrators' queue (`giru approvals`), shared by every worker. Either
way the wait is bounded; no answer in time, a "no", a declined or cancelled form, or an
administrator's denial refuses the call with a clear error. The verdict and who gave it go into
the call's audit record.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

import structlog

from giru.approvals import ApprovalBoard, Ticket, Verdict, summary_of
from giru.approvals.tickets import new_ticket_id
from giru.errors import GiruError
from giru.mcp.jsonrpc import METHOD_NOT_FOUND
from giru.settings import ApprovalSettings
from giru.upstream.base import MessageSink

__all__ = [
    "ANSWER_FIELD",
    "ClientChannel",
    "Consent",
    "consent_of",
    "elicits_form",
    "question",
]

_log = structlog.get_logger(__name__)
ANSWER_FIELD: Final = "allow"


class ClientChannel(NamedTuple):
    """How to reach the calling client during its call, and what it declared it can do."""

    relay: MessageSink | None
    capabilities: Mapping[str, Any] | None


def elicits_form(capabilities: Mapping[str, Any] | None) -> bool:
    """The client can fill in a form-mode elicitation (`elicitation: {}` means form mode)."""
    found = (capabilities or {}).get("elicitation")
    if not isinstance(found, Mapping):
        return False
    return not found or "form" in found


def question(tool: str, summary: str) -> dict[str, Any]:
    """The elicitation's params: one yes/no field (form mode, which a request without `mode`
    is in every era)."""
    return {
        "message": f"Allow {tool} with {summary}? yes/no",
        "requestedSchema": {
            "type": "object",
            "properties": {
                ANSWER_FIELD: {
                    "type": "boolean",
                    "title": f"Allow {tool}",
                    "description": "yes runs the call; no refuses it",
                }
            },
            "required": [ANSWER_FIELD],
        },
    }


class Consent:
    def __init__(
        self,
        board: ApprovalBoard,
        *,
        node: str,
        elicitation_timeout_s: float = 60.0,
        queue_timeout_s: float = 120.0,
    ) -> None:
        self.board = board
        self._node = node
        self._elicitation_timeout_s = elicitation_timeout_s
        self._queue_timeout_s = queue_timeout_s
        self._ids = itertools.count(1)

    async def confirm(
        self,
        actor: str,
        server: str,
        tool: str,
        arguments: Mapping[str, Any],
        controls: Sequence[str],
        channel: ClientChannel | None,
    ) -> Verdict:
        """Ask the caller's client, else the administrators; the verdict, bounded in time."""
        summary = summary_of(arguments)
        if channel is not None and channel.relay is not None and elicits_form(channel.capabilities):
            verdict = await self._elicit(channel.relay, actor, tool, summary)
            if verdict is not None:
                return verdict
        return await self._queue(actor, server, tool, summary, controls)

    async def _elicit(
        self, relay: MessageSink, actor: str, tool: str, summary: str
    ) -> Verdict | None:
        """The client's answer; None when it turns out it cannot be asked (then the queue)."""
        request = {
            "jsonrpc": "2.0",
            "id": f"giru-approval-{next(self._ids)}",
            "method": "elicitation/create",
            "params": question(tool, summary),
        }
        try:
            async with asyncio.timeout(self._elicitation_timeout_s):
                answer = await relay(request)
        except TimeoutError:
            return Verdict("expired", None, "elicitation", "the client did not answer in time")
        error = (answer or {}).get("error")
        if isinstance(error, dict):
            if error.get("code") == METHOD_NOT_FOUND:
                return None
            return Verdict("expired", None, "elicitation", "the client could not answer")
        result = (answer or {}).get("result")
        result = result if isinstance(result, dict) else {}
        action = result.get("action")
        content = result.get("content")
        said = content.get(ANSWER_FIELD) if isinstance(content, dict) else None
        if action == "accept" and said in (True, "yes"):
            return Verdict("approved", actor, "elicitation")
        if action == "accept":
            return Verdict("denied", actor, "elicitation", "the user answered no")
        why = "the user cancelled" if action == "cancel" else "the user declined"
        return Verdict("denied", actor, "elicitation", why)

    async def _queue(
        self, actor: str, server: str, tool: str, summary: str, controls: Sequence[str]
    ) -> Verdict:
        now = datetime.now(UTC)
        ticket = Ticket(
            id=new_ticket_id(),
            actor=actor,
            server=server,
            tool=tool,
            summary=summary,
            controls=list(controls),
            created_at=now,
            expires_at=now + timedelta(seconds=self._queue_timeout_s),
            node=self._node,
        )
        try:
            await self.board.open(ticket)
            _log.info("approval_requested", ticket=ticket.id, server=server, tool=tool, actor=actor)
            decided = await self.board.wait(ticket.id)
        except GiruError as exc:  # full, or Redis gone: nobody can approve, so it is refused
            _log.warning("approval_queue_unavailable", ticket=ticket.id, error=exc.message)
            return Verdict("denied", None, "queue", exc.message, ticket.id)
        by = decided.decided_by if decided.status != "expired" else None
        _log.info("approval_decided", ticket=ticket.id, status=decided.status, by=by)
        return Verdict(decided.status, by, "queue", decided.reason, ticket.id)


def consent_of(settings: ApprovalSettings, board: ApprovalBoard, node: str) -> Consent:
    """The approver of a gateway worker, per the `approvals` settings."""
    return Consent(
        board,
        node=node,
        elicitation_timeout_s=settings.elicitation_timeout_s,
        queue_timeout_s=settings.timeout_s,
    )
