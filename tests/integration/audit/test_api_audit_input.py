"""`GET /api/v1/audit/{eventId}/input`: a record's decision input, rebuilt as replay does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from giru.api import build_api
from giru.audit import link
from giru.policy.shapes import recorded_input, replayed_input
from giru.store import Store
from tests.integration.api.conftest import BASE, PEPPER, TOKENS, FakeRuntime
from tests.unit.audit.data import record

pytestmark = pytest.mark.integration

_CARD = "5500 0055 5555 5559"
_TOOL = {"name": "echo", "tags": ["pci"], "sensitivity": "high"}
_CONTEXT = {"client": "alice", "tenant": "default"}
_DECIDED = {
    "mcp": {
        "method": "tools/call",
        "server": "kit",
        "tool": _TOOL,
        "arguments": {"card": _CARD, "note": "lunch", "amount": 1234},
    },
    "context": _CONTEXT,
}


@dataclass
class Api:
    viewer: httpx.AsyncClient
    anonymous: httpx.AsyncClient
    decided: str
    admin: str


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    """A store with a denied call that keeps its input and an admin record that keeps none."""
    store = await Store.open(database_url, pepper=PEPPER)
    await store.ensure_admin_key("viewer-key", TOKENS["viewer"], "viewer")
    decided = record(
        outcome="policy_denied",
        reasons=["PCI DSS Req 3.4"],
        details={"status": 403, "input": recorded_input(_DECIDED)},
    )
    admin = record(action="admin/apply", server=None, target=None, details={"status": 200})
    made, _ = link([decided, admin], {})
    await store.insert_audit(made)
    transport = httpx.ASGITransport(app=build_api(store, runtime=FakeRuntime(store), pepper=PEPPER))
    headers = {"Authorization": f"Bearer {TOKENS['viewer']}"}
    async with (
        httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as viewer,
        httpx.AsyncClient(transport=transport, base_url=BASE) as anonymous,
    ):
        yield Api(viewer, anonymous, decided["event_id"], admin["event_id"])
    await store.aclose()


async def test_a_viewer_reads_a_records_input_with_placeholder_arguments(api: Api) -> None:
    response = await api.viewer.get(f"/api/v1/audit/{api.decided}/input")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["eventId"], body["actor"], body["server"], body["target"], body["outcome"]) == (
        api.decided,
        "alice",
        "kit",
        "echo",
        "policy_denied",
    )
    assert body["input"] == replayed_input(recorded_input(_DECIDED))
    assert body["input"]["context"] == _CONTEXT
    assert body["input"]["mcp"]["tool"] == _TOOL
    assert "argument_shapes" not in body["input"]["mcp"]


async def test_the_rebuilt_arguments_keep_shapes_but_never_the_values(api: Api) -> None:
    body = (await api.viewer.get(f"/api/v1/audit/{api.decided}/input")).json()
    arguments = body["input"]["mcp"]["arguments"]
    assert set(arguments) == {"card", "note", "amount"}
    assert arguments["card"] != _CARD
    assert len(arguments["card"]) == len(_CARD)
    assert "4111111111111111" in arguments["card"]  # a test card number stands in for the PAN
    assert arguments["note"] != "lunch"
    assert len(arguments["note"]) == len("lunch")
    assert arguments["amount"] != 1234
    assert _CARD not in repr(body)
    assert "lunch" not in repr(body)


async def test_an_unknown_event_is_404_with_a_problem(api: Api) -> None:
    response = await api.viewer.get("/api/v1/audit/0190f5a4-0000-7000-8000-000000000000/input")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "not_found"


async def test_a_record_without_a_decision_input_is_404(api: Api) -> None:
    response = await api.viewer.get(f"/api/v1/audit/{api.admin}/input")
    assert response.status_code == 404
    assert "no decision input" in response.json()["detail"]


async def test_reading_an_input_needs_a_token(api: Api) -> None:
    response = await api.anonymous.get(f"/api/v1/audit/{api.decided}/input")
    assert response.status_code == 401
