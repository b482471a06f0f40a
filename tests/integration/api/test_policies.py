"""Policies over the REST API: the `Policy` kind's CRUD, and decisions through the runtime.

The policy engine here is the conftest's fake (the real OPA engine is the gateway's and is
tested with it); what is tested is the API's contract: roles, shapes, errors.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.api.conftest import (
    FakeRuntime,
    create_all,
    errors_of,
    fields_of,
    manifest,
    server_doc,
)

pytestmark = pytest.mark.integration

PCI: dict[str, Any] = {
    "metadata": {"name": "pci"},
    "spec": {
        "packs": ["core", "pci_dss"],
        "selector": {"servers": ["payments"], "environments": ["prod"]},
        "data": {"pci_dss": {"cardholder_data_zones": ["secure-zone-1"]}},
        "description": "cardholder data",
    },
}
CARD_CALL = {
    "mcp": {"method": "tools/call", "tool": {"name": "charge"}, "arguments": {"card": "4111"}}
}


async def test_a_policy_is_created_read_replaced_and_deleted_with_etags(
    api: httpx.AsyncClient, runtime: FakeRuntime
) -> None:
    await create_all(api, "/api/v1/servers", [server_doc("payments")])

    created = await api.post("/api/v1/policies", json=PCI)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/api/v1/policies/pci"
    assert created.headers["etag"] == '"1"'
    assert created.json()["kind"] == "Policy"
    assert created.json()["spec"] == {
        **PCI["spec"],
        "selector": {**PCI["spec"]["selector"], "virtualServers": []},
    }
    changed = {**PCI, "spec": {**PCI["spec"], "packs": ["core", "pci_dss", "soc2"]}}
    stale = await api.put("/api/v1/policies/pci", json=changed, headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    replaced = await api.put("/api/v1/policies/pci", json=changed, headers={"If-Match": '"1"'})
    assert replaced.status_code == 200, replaced.text
    assert replaced.headers["etag"] == '"2"'
    listed = (await api.get("/api/v1/policies")).json()
    assert [item["spec"]["packs"] for item in listed["items"]] == [["core", "pci_dss", "soc2"]]
    assert (await api.delete("/api/v1/policies/pci")).status_code == 204
    assert (await api.get("/api/v1/policies/pci")).status_code == 404
    changes = (await api.get("/api/v1/changes", params={"kind": "Policy"})).json()["items"]
    assert [c["action"] for c in changes] == ["delete", "update", "create"]
    assert runtime.notified == 4  # the server, then three writes of the policy


async def test_a_policy_naming_unknown_objects_or_packs_is_422(api: httpx.AsyncClient) -> None:
    dangling = await api.post("/api/v1/policies", json=PCI)
    assert dangling.status_code == 422
    assert fields_of(dangling) == {"spec.selector.servers[0]"}
    bad_data = {"metadata": {"name": "p"}, "spec": {"packs": ["core"], "data": {"gdpr": {}}}}
    response = await api.post("/api/v1/policies", json=bad_data)
    assert response.status_code == 422
    assert errors_of(response) == [
        {"field": "spec.data.gdpr", "reason": "pack 'gdpr' is not in spec.packs"}
    ]
    no_packs = await api.post("/api/v1/policies", json={"metadata": {"name": "p"}, "spec": {}})
    assert fields_of(no_packs) == {"spec.packs"}


async def test_a_server_a_policy_selects_cannot_be_deleted(api: httpx.AsyncClient) -> None:
    await create_all(api, "/api/v1/servers", [server_doc("payments")])
    await create_all(api, "/api/v1/policies", [PCI])

    response = await api.delete("/api/v1/servers/payments")

    assert response.status_code == 409
    assert response.json()["code"] == "in_use"
    assert "Policy/pci" in response.json()["detail"]


async def test_policies_are_applied_with_what_they_select(api: httpx.AsyncClient) -> None:
    body = {"documents": [manifest("Policy", PCI), manifest("MCPServer", server_doc("payments"))]}

    response = await api.post("/api/v1/apply", json=body)

    assert response.status_code == 200, response.text
    assert response.json()["results"] == [
        {"kind": "Policy", "name": "pci", "action": "created"},
        {"kind": "MCPServer", "name": "payments", "action": "created"},
    ]


async def test_viewers_read_policies_but_may_not_write_them(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    policy = {"metadata": {"name": "all"}, "spec": {"packs": ["core"]}}
    assert (await clients["viewer"].post("/api/v1/policies", json=policy)).status_code == 403
    assert (await clients["operator"].post("/api/v1/policies", json=policy)).status_code == 201
    assert (await clients["viewer"].get("/api/v1/policies/all")).status_code == 200
    assert (await clients["anonymous"].get("/api/v1/policies")).status_code == 401


async def test_eval_returns_the_engines_decision(
    api: httpx.AsyncClient, runtime: FakeRuntime
) -> None:
    denied = await api.post("/api/v1/policy/eval", json={"input": CARD_CALL})
    allowed = await api.post("/api/v1/policy/eval", json={"input": {"mcp": {"arguments": {}}}})

    assert denied.status_code == 200, denied.text
    assert denied.json() == {
        "allow": False,
        "deny": [{"pack": "pci_dss", "control": "PCI DSS Req 3.4", "message": "PAN in 'card'"}],
        "redact": [],
        "audit": {"controls": ["PCI DSS Req 10.2"]},
        "approve": [],
        "alerts": [],
        "revision": "rev-1",
    }
    assert allowed.json()["allow"] is True
    assert runtime.evaluated == [CARD_CALL, {"mcp": {"arguments": {}}}]


async def test_eval_needs_an_operator_and_an_input_object(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    viewer = await clients["viewer"].post("/api/v1/policy/eval", json={"input": {}})
    missing = await clients["operator"].post("/api/v1/policy/eval", json={})
    not_object = await clients["operator"].post("/api/v1/policy/eval", json={"input": [1]})

    assert viewer.status_code == 403
    assert (missing.status_code, fields_of(missing)) == (422, {"input"})
    assert (not_object.status_code, fields_of(not_object)) == (422, {"input"})


async def test_eval_without_an_engine_is_503_policy_unavailable(
    api: httpx.AsyncClient, runtime: FakeRuntime
) -> None:
    runtime.policy_active = False

    response = await api.post("/api/v1/policy/eval", json={"input": CARD_CALL})

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "policy_unavailable"
    assert response.json()["detail"] == "no policy engine is attached"


async def test_status_is_readable_by_viewers(
    clients: dict[str, httpx.AsyncClient], runtime: FakeRuntime
) -> None:
    active = await clients["viewer"].get("/api/v1/policy/status")
    runtime.policy_active = False
    inactive = await clients["viewer"].get("/api/v1/policy/status")

    assert active.status_code == 200
    assert active.json() == {
        "active": True,
        "revision": "rev-1",
        "packs": ["core", "pci_dss"],
        "opa": "embedded",
        "url": None,
        "lastError": None,
    }
    assert (inactive.json()["active"], inactive.json()["packs"]) == (False, [])
    assert (await clients["anonymous"].get("/api/v1/policy/status")).status_code == 401
