from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from giru.approvals import LocalApprovals, Ticket
from giru.errors import ConflictError, NotFoundError


def _ticket(name: str, seconds: float = 30.0) -> Ticket:
    now = datetime.now(UTC)
    return Ticket(
        id=f"apr-{name}",
        actor="ci",
        server="files",
        tool="delete",
        summary="path='/tmp/x'",
        controls=["core.approval_tags"],
        created_at=now,
        expires_at=now + timedelta(seconds=seconds),
    )


async def test_an_approval_wakes_the_waiting_call() -> None:
    board = LocalApprovals()
    await board.open(_ticket("a"))
    async with asyncio.TaskGroup() as tasks:
        waiting = tasks.create_task(board.wait("apr-a"))
        await board.decide("apr-a", "approved", "admin", None)
    assert waiting.result().status == "approved"
    assert waiting.result().decided_by == "admin"


async def test_a_ticket_nobody_decides_expires() -> None:
    board = LocalApprovals()
    await board.open(_ticket("e", seconds=0.01))
    assert (await board.wait("apr-e")).status == "expired"
    with pytest.raises(ConflictError):
        await board.decide("apr-e", "approved", "admin", None)


async def test_a_ticket_decides_once() -> None:
    board = LocalApprovals()
    await board.open(_ticket("d"))
    await board.decide("apr-d", "denied", "admin", "no")
    with pytest.raises(ConflictError) as again:
        await board.decide("apr-d", "approved", "admin", None)
    assert again.value.code == "approval_decided"
    assert (await board.wait("apr-d")).status == "denied"


async def test_pending_tickets_are_listed_first() -> None:
    board = LocalApprovals()
    await board.open(_ticket("old"))
    await board.open(_ticket("new"))
    await board.decide("apr-new", "approved", "admin", None)
    assert [t.id for t in await board.tickets()] == ["apr-old", "apr-new"]


async def test_an_unknown_ticket_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        await LocalApprovals().decide("apr-none", "approved", "admin", None)
