"""The approval queue shared by workers through a real Redis: a call waiting on one worker is
decided from another, once; nobody deciding expires it; a call whose worker stopped holding it
is listed as expired once its lease lapses, not pending until the timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from giru.approvals import RedisApprovals, Ticket
from giru.approvals.remote import ABANDONED
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


async def test_a_ticket_whose_holder_stopped_renewing_is_listed_as_expired(
    redis_url: str,
) -> None:
    """The holder opened the ticket and died before waiting (no renewal): once its one-second
    lease lapses the queue shows the ticket expired, and approving it is a conflict."""
    holder, other = RedisApprovals(redis_url, lease_s=1.0), RedisApprovals(redis_url)
    try:
        await holder.open(_ticket("h1", seconds=60.0))
        await holder.aclose()
        async with asyncio.timeout(10):
            # polled: the lease lapses on Redis's clock, nothing here can signal it
            while (listed := {t.id: t for t in await other.tickets()})[  # noqa: ASYNC110
                "apr-h1"
            ].status == "pending":
                await asyncio.sleep(0.1)
        assert listed["apr-h1"].status == "expired"
        assert listed["apr-h1"].reason == ABANDONED
        with pytest.raises(ConflictError) as late:
            await other.decide("apr-h1", "approved", "admin", None)
        assert ABANDONED in late.value.message
    finally:
        await other.aclose()


async def test_a_waiting_holder_keeps_its_ticket_pending_past_its_lease(
    workers: tuple[RedisApprovals, RedisApprovals], redis_url: str
) -> None:
    """Renewed while it waits: a worker with a one-second lease still holds its call after
    three seconds, and the approval reaches it."""
    waiting = RedisApprovals(redis_url, lease_s=1.0)
    deciding = workers[1]
    try:
        await waiting.open(_ticket("r1", seconds=30.0))
        async with asyncio.TaskGroup() as tasks:
            wait = tasks.create_task(waiting.wait("apr-r1"))
            # listed pending at every look while three leases pass
            passed = asyncio.get_running_loop().time() + 3.0
            while asyncio.get_running_loop().time() < passed:
                listed = {t.id: t for t in await deciding.tickets()}
                assert listed["apr-r1"].status == "pending"
                await asyncio.sleep(0.2)
            await deciding.decide("apr-r1", "approved", "admin", None)
        assert wait.result().status == "approved"
    finally:
        await waiting.aclose()
