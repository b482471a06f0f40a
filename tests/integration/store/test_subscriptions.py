"""Store contract: a subscription's status on create, its transitions, approval and expiry."""

from __future__ import annotations

from typing import Any, Literal

import pytest

from giru.errors import ConflictError, PreconditionFailedError
from giru.store import Store
from tests.integration.store.data import ACTOR, seed, subscription

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("extra", "status", "approved_by"),
    [
        ({}, "active", None),
        ({"requiresApproval": True}, "pending", None),
        ({"requiresApproval": True, "environment": "prod"}, "pending", None),
        ({"requiresApproval": True, "environment": "dev"}, "active", "system:auto-approval"),
        ({"environment": "prod"}, "active", None),
        ({"status": "suspended"}, "suspended", None),
        ({"requiresApproval": True, "status": "active"}, "active", ACTOR),
    ],
)
async def test_status_on_create(
    store: Store, extra: dict[str, Any], status: str, approved_by: str | None
) -> None:
    await seed(store)
    created, _ = await store.create("Subscription", "sub", subscription(**extra), actor=ACTOR)
    assert created.spec["status"] == status
    assert created.status["approvedBy"] == approved_by
    assert (created.status["approvedAt"] is None) == (approved_by is None)


async def test_approve_suspend_resume(store: Store) -> None:
    await seed(store)
    await store.create("Subscription", "sub", subscription(requiresApproval=True), actor=ACTOR)
    approved = await store.transition("sub", "approve", actor="boss", expected_version=1)
    assert (approved.spec["status"], approved.version) == ("active", 2)
    assert approved.status["approvedBy"] == "boss"
    assert approved.status["approvedAt"].endswith("Z")
    suspended = await store.transition("sub", "suspend", actor=ACTOR)
    assert (suspended.spec["status"], suspended.version) == ("suspended", 3)
    resumed = await store.transition("sub", "resume", actor=ACTOR)
    assert (resumed.spec["status"], resumed.version) == ("active", 4)
    assert resumed.status["approvedBy"] == "boss"
    changes = await store.list_changes(kind="Subscription", name="sub")
    assert [c.action for c in changes.items] == ["resume", "suspend", "approve", "create"]
    assert changes.items[2].detail == {"from": "pending", "to": "active"}


@pytest.mark.parametrize(
    ("start", "action"),
    [
        ("active", "approve"),
        ("active", "resume"),
        ("pending", "suspend"),
        ("pending", "resume"),
        ("suspended", "approve"),
        ("suspended", "suspend"),
        ("expired", "resume"),
    ],
)
async def test_other_transitions_are_refused(
    store: Store, start: str, action: Literal["approve", "suspend", "resume"]
) -> None:
    await seed(store)
    await store.create("Subscription", "sub", subscription(status=start), actor=ACTOR)
    with pytest.raises(ConflictError) as exc:
        await store.transition("sub", action, actor=ACTOR)
    assert exc.value.code == "invalid_transition"
    current = await store.get("Subscription", "sub")
    assert (current.spec["status"], current.version) == (start, 1)


async def test_a_transition_checks_the_expected_version(store: Store) -> None:
    await seed(store)
    await store.create("Subscription", "sub", subscription(requiresApproval=True), actor=ACTOR)
    with pytest.raises(PreconditionFailedError):
        await store.transition("sub", "approve", actor=ACTOR, expected_version=7)
    assert (await store.get("Subscription", "sub")).spec["status"] == "pending"


async def test_an_update_cannot_approve(store: Store) -> None:
    await seed(store)
    pending = subscription(requiresApproval=True, environment="prod")
    await store.create("Subscription", "sub", pending, actor=ACTOR)
    with pytest.raises(ConflictError) as exc:
        await store.replace("Subscription", "sub", pending | {"status": "active"}, actor=ACTOR)
    assert exc.value.code == "approval_required"
    unchanged = await store.replace("Subscription", "sub", pending, actor=ACTOR)
    assert (unchanged.spec["status"], unchanged.version) == ("pending", 1)
    auto = await store.replace(
        "Subscription", "sub", pending | {"environment": "dev", "status": "active"}, actor=ACTOR
    )
    assert (auto.spec["status"], auto.version) == ("active", 2)
    assert auto.status["approvedBy"] == "system:auto-approval"


async def test_an_update_without_status_keeps_the_current_one(store: Store) -> None:
    await seed(store)
    await store.create("Subscription", "sub", subscription(), actor=ACTOR)
    await store.transition("sub", "suspend", actor=ACTOR)
    updated = await store.replace("Subscription", "sub", subscription(quotaPerDay=5), actor=ACTOR)
    assert (updated.spec["status"], updated.spec["quotaPerDay"], updated.version) == (
        "suspended",
        5,
        3,
    )
    reopened = await store.replace(
        "Subscription", "sub", subscription(status="active"), actor=ACTOR
    )
    assert reopened.spec["status"] == "active"


async def test_expired_subscriptions_are_marked_once(store: Store) -> None:
    await seed(store)
    past = subscription(startsAt="2020-01-01T00:00:00Z", expiresAt="2021-01-01T00:00:00Z")
    await store.create("Subscription", "old", past, actor=ACTOR)
    await store.create(
        "Subscription", "current", subscription(expiresAt="2999-01-01T00:00:00Z"), actor=ACTOR
    )
    await store.create("Subscription", "open", subscription(), actor=ACTOR)
    assert await store.expire_subscriptions() == ["old"]
    old = await store.get("Subscription", "old")
    assert (old.spec["status"], old.version) == ("expired", 2)
    assert (await store.get("Subscription", "current")).spec["status"] == "active"
    revision = await store.revision()
    assert await store.expire_subscriptions() == []
    assert await store.revision() == revision
