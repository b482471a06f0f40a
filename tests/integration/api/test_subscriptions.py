"""Subscription lifecycle over the API: approve, suspend, resume, and the moves that are refused."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.api.conftest import (
    FakeRuntime,
    client_doc,
    create_all,
    server_doc,
    subscription_doc,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def pending(api: httpx.AsyncClient) -> str:
    """A subscription that needs approval, in `prod` (which has no auto approval)."""
    await create_all(api, "/api/v1/servers", [server_doc("files")])
    await create_all(api, "/api/v1/clients", [client_doc("ana")])
    document = subscription_doc(
        "ana-files", "ana", "files", requiresApproval=True, environment="prod"
    )
    created = await api.post("/api/v1/subscriptions", json=document)
    assert created.json()["spec"]["status"] == "pending", created.text
    return "ana-files"


async def test_approve_activates_and_records_the_approver(
    clients: dict[str, httpx.AsyncClient], pending: str, runtime: FakeRuntime
) -> None:
    notified = runtime.notified

    response = await clients["operator"].post(f"/api/v1/subscriptions/{pending}/approve")

    assert response.status_code == 200, response.text
    assert response.json()["spec"]["status"] == "active"
    assert response.json()["status"]["approvedBy"] == "operator-key"
    assert response.headers["etag"] == f'"{response.json()["metadata"]["resourceVersion"]}"'
    assert runtime.notified == notified + 1


async def test_suspend_and_resume_move_between_active_and_suspended(
    api: httpx.AsyncClient, pending: str
) -> None:
    await api.post(f"/api/v1/subscriptions/{pending}/approve")

    suspended = await api.post(f"/api/v1/subscriptions/{pending}/suspend")
    resumed = await api.post(f"/api/v1/subscriptions/{pending}/resume")

    assert suspended.json()["spec"]["status"] == "suspended"
    assert resumed.json()["spec"]["status"] == "active"


@pytest.mark.parametrize("action", ["suspend", "resume"])
async def test_moves_that_do_not_apply_are_409_invalid_transition(
    api: httpx.AsyncClient, pending: str, action: str
) -> None:
    response = await api.post(f"/api/v1/subscriptions/{pending}/{action}")

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"


async def test_approving_twice_is_409(api: httpx.AsyncClient, pending: str) -> None:
    await api.post(f"/api/v1/subscriptions/{pending}/approve")

    response = await api.post(f"/api/v1/subscriptions/{pending}/approve")

    assert response.json()["code"] == "invalid_transition"


async def test_a_stale_if_match_on_a_transition_is_412(
    api: httpx.AsyncClient, pending: str
) -> None:
    response = await api.post(
        f"/api/v1/subscriptions/{pending}/approve", headers={"If-Match": '"99"'}
    )

    assert response.status_code == 412


async def test_activating_by_put_needs_approval(api: httpx.AsyncClient, pending: str) -> None:
    document = subscription_doc(
        pending, "ana", "files", requiresApproval=True, environment="prod", status="active"
    )

    response = await api.put(f"/api/v1/subscriptions/{pending}", json=document)

    assert response.status_code == 409
    assert response.json()["code"] == "approval_required"


async def test_transitions_of_missing_subscriptions_are_404(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/subscriptions/nope/approve")

    assert response.status_code == 404


async def test_viewers_may_not_approve(clients: dict[str, httpx.AsyncClient], pending: str) -> None:
    response = await clients["viewer"].post(f"/api/v1/subscriptions/{pending}/approve")

    assert response.status_code == 403
