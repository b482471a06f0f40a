"""Where calls wait for an administrator's decision: the board's contract, the in-process board
(one worker); giru.approvals.remote shares one between workers through Redis.

A waiting call opens a ticket and waits, bounded; `giru approvals approve|deny ID` decides it
from any worker. A ticket decides once: the first of approve, deny and expiry wins, and deciding
it again is a conflict.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final, Protocol

from giru.approvals.tickets import Status, Ticket
from giru.errors import ConflictError, NotFoundError

__all__ = ["KEEP_DECIDED_S", "MAX_PENDING", "ApprovalBoard", "LocalApprovals", "ordered", "settled"]

MAX_PENDING: Final = 1000
"""Tickets waiting at once; more are refused at once (the call fails, nothing waits)."""
KEEP_DECIDED_S: Final = 3600.0
"""How long a decided ticket stays listed (`giru approvals -o json` shows who decided)."""


class ApprovalBoard(Protocol):
    async def open(self, ticket: Ticket) -> None:
        """Put `ticket` up for a decision.

        Raises:
            ConflictError: too many tickets pending (code `approvals_full`).
        """
        ...

    async def wait(self, ticket_id: str) -> Ticket:
        """The ticket once decided, or expired at its `expires_at` (no decision in time)."""
        ...

    async def decide(
        self, ticket_id: str, status: Status, actor: str, reason: str | None
    ) -> Ticket:
        """Approve or deny a pending ticket as `actor`.

        Raises:
            NotFoundError: no such ticket (or it is long gone).
            ConflictError: it was decided already, or expired (code `approval_decided`).
        """
        ...

    async def tickets(self) -> list[Ticket]:
        """Pending tickets, then recently decided ones, newest first."""
        ...

    async def aclose(self) -> None: ...


def settled(ticket: Ticket) -> ConflictError:
    why = f": {ticket.reason}" if ticket.status == "expired" and ticket.reason else ""
    return ConflictError(
        f"approval {ticket.id} was {ticket.status} already"
        + (f" by {ticket.decided_by}" if ticket.decided_by else "")
        + why,
        code="approval_decided",
    )


class LocalApprovals:
    """The board of one process: tickets in memory, waiters woken by a future."""

    def __init__(self) -> None:
        self._tickets: dict[str, Ticket] = {}
        self._done: dict[str, asyncio.Future[Ticket]] = {}

    async def open(self, ticket: Ticket) -> None:
        self._forget_old()
        if sum(t.status == "pending" for t in self._tickets.values()) >= MAX_PENDING:
            raise ConflictError("too many calls are waiting for approval", code="approvals_full")
        self._tickets[ticket.id] = ticket
        self._done[ticket.id] = asyncio.get_running_loop().create_future()

    async def wait(self, ticket_id: str) -> Ticket:
        ticket = self._tickets[ticket_id]
        done = self._done[ticket_id]
        left = (ticket.expires_at - datetime.now(UTC)).total_seconds()
        try:
            async with asyncio.timeout(max(left, 0.0)):
                return await asyncio.shield(done)
        except TimeoutError:
            if ticket.status == "pending":
                ticket.decide("expired", "giru", "no decision before the approval timeout")
            return ticket
        finally:
            self._done.pop(ticket_id, None)

    async def decide(
        self, ticket_id: str, status: Status, actor: str, reason: str | None
    ) -> Ticket:
        ticket = self._tickets.get(ticket_id)
        if ticket is None:
            raise NotFoundError(f"no approval {ticket_id!r}")
        if ticket.status != "pending":
            raise settled(ticket)
        ticket.decide(status, actor, reason)
        done = self._done.get(ticket_id)
        if done is not None and not done.done():
            done.set_result(ticket)
        return ticket

    async def tickets(self) -> list[Ticket]:
        self._forget_old()
        return ordered(self._tickets.values())

    async def aclose(self) -> None:
        for done in self._done.values():
            done.cancel()
        self._done.clear()

    def _forget_old(self) -> None:
        now = datetime.now(UTC)
        for ticket_id, ticket in list(self._tickets.items()):
            ended = ticket.decided_at or ticket.expires_at
            if ticket.status != "pending" and (now - ended).total_seconds() > KEEP_DECIDED_S:
                del self._tickets[ticket_id]


def ordered(tickets: Iterable[Ticket]) -> list[Ticket]:
    """Pending first, then the rest; newest first within each."""
    found = list(tickets)
    found.sort(key=lambda t: (t.status != "pending", -t.created_at.timestamp()))
    return found
