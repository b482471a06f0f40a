"""The approval queue shared by workers through a real Redis: a call waiting on one worker is
decided from another, once; nobody deciding expires it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from giru.approvals import RedisApprovals, Ticket
from giru.errors import ConflictError, NotFoundError

pytestmark = pytest.mark.integration


@pytest.fixture
async def workers(redis_url: str) -> AsyncIterator[tuple[RedisApprovals, RedisApprovals]]:
    first, second = RedisApprovals(redis_url), RedisApprovals(redis_url)
    try:
        yield first, second
    finally:
        await first.aclose()
        await second.aclose()


def _ticket(name: str, seconds: float = 10.0) -> Ticket:
    now = datetime.now(UTC)
    return Ticket(
        id=f"apr-{name}",
        actor="e2e",
        server="files",
        tool="delete",
        summary="path='/tmp/x'",
        controls=["core.approval_tags"],
        created_at=now,
        expires_at=now + timedelta(seconds=seconds),
        node="worker-1",
    )


async def test_a_call_waiting_on_one_worker_is_approved_from_another(
    workers: tuple[RedisApprovals, RedisApprovals],
) -> None:
    waiting, deciding = workers
    await waiting.open(_ticket("a1"))
    async with asyncio.TaskGroup() as tasks:
        wait = tasks.create_task(waiting.wait("apr-a1"))
        listed = {t.id: t for t in await deciding.tickets()}
        assert listed["apr-a1"].status == "pending"
        await deciding.decide("apr-a1", "approved", "admin", None)
    decided = wait.result()
    assert decided.status == "approved"
    assert decided.decided_by == "admin"
    assert decided.controls == ["core.approval_tags"]


async def test_a_denial_carries_its_reason_and_a_second_decision_conflicts(
    workers: tuple[RedisApprovals, RedisApprovals],
) -> None:
    waiting, deciding = workers
    await waiting.open(_ticket("d1"))
    async with asyncio.TaskGroup() as tasks:
        wait = tasks.create_task(waiting.wait("apr-d1"))
        await deciding.decide("apr-d1", "denied", "admin", "not today")
    assert wait.result().reason == "not today"
    with pytest.raises(ConflictError) as again:
        await deciding.decide("apr-d1", "approved", "other", None)
    assert again.value.code == "approval_decided"


async def test_nobody_deciding_expires_the_ticket_and_a_late_approval_conflicts(
    workers: tuple[RedisApprovals, RedisApprovals],
) -> None:
    waiting, deciding = workers
    await waiting.open(_ticket("e1", seconds=1.0))
    assert (await waiting.wait("apr-e1")).status == "expired"
    with pytest.raises(ConflictError):
        await deciding.decide("apr-e1", "approved", "admin", None)


async def test_deciding_an_unknown_ticket_is_not_found(
    workers: tuple[RedisApprovals, RedisApprovals],
) -> None:
    with pytest.raises(NotFoundError):
        await workers[1].decide("apr-nothing", "approved", "admin", None)
