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


async def test_reject_turns_a_request_down_and_the_change_log_keeps_the_reason(
    clients: dict[str, httpx.AsyncClient], pending: str
) -> None:
    response = await clients["operator"].post(
        f"/api/v1/subscriptions/{pending}/reject", json={"reason": "not for contractors"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["spec"]["status"] == "rejected"
    changes = await clients["operator"].get(
        "/api/v1/changes", params={"kind": "Subscription", "name": pending}
    )
    newest = changes.json()["items"][0]
    assert (newest["action"], newest["actor"]) == ("reject", "operator-key")
    assert newest["detail"] == {
        "from": "pending",
        "to": "rejected",
        "reason": "not for contractors",
    }


async def test_a_suspension_without_a_body_records_no_reason(
    api: httpx.AsyncClient, pending: str
) -> None:
    await api.post(f"/api/v1/subscriptions/{pending}/approve", json={"reason": "ok by the CISO"})
    await api.post(f"/api/v1/subscriptions/{pending}/suspend")

    changes = await api.get("/api/v1/changes", params={"kind": "Subscription", "name": pending})

    suspended, approved = changes.json()["items"][:2]
    assert suspended["detail"] == {"from": "active", "to": "suspended"}
    assert approved["detail"]["reason"] == "ok by the CISO"


@pytest.mark.parametrize("reason", ["", "x" * 501, 42])
async def test_a_reason_that_is_empty_too_long_or_not_text_is_422(
    api: httpx.AsyncClient, pending: str, reason: object
) -> None:
    response = await api.post(f"/api/v1/subscriptions/{pending}/reject", json={"reason": reason})

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"


async def test_only_a_pending_subscription_can_be_rejected(
    api: httpx.AsyncClient, pending: str
) -> None:
    await api.post(f"/api/v1/subscriptions/{pending}/approve")

    response = await api.post(f"/api/v1/subscriptions/{pending}/reject")

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"


async def test_a_rejected_subscription_is_not_activated_by_a_put(
    api: httpx.AsyncClient, pending: str
) -> None:
    await api.post(f"/api/v1/subscriptions/{pending}/reject", json={"reason": "no"})
    document = subscription_doc(
        pending, "ana", "files", requiresApproval=True, environment="prod", status="active"
    )

    response = await api.put(f"/api/v1/subscriptions/{pending}", json=document)

    assert response.status_code == 409
    assert response.json()["code"] == "approval_required"
