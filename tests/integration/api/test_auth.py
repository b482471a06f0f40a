"""Admin keys and roles: who may call what, and what a refusal looks like."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.api.conftest import BASE, TOKENS, server_doc

pytestmark = pytest.mark.integration


async def test_calls_without_a_token_are_401_with_a_bearer_challenge(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    response = await clients["anonymous"].get("/api/v1/servers")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="giru"'
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "unauthenticated"
    assert problem["type"] == "https://giru.dev/problems/unauthenticated"
    assert problem["status"] == 401


@pytest.mark.parametrize("authorization", ["Bearer giru_wrong", "Basic YWxhZGRpbjpvcGVu", "Bearer"])
async def test_unknown_tokens_and_other_schemes_are_401(
    clients: dict[str, httpx.AsyncClient], authorization: str
) -> None:
    response = await clients["anonymous"].get(
        "/api/v1/whoami", headers={"Authorization": authorization}
    )

    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
async def test_whoami_names_the_key_and_its_role(
    clients: dict[str, httpx.AsyncClient], role: str
) -> None:
    response = await clients[role].get("/api/v1/whoami")

    assert response.json() == {"name": f"{role}-key", "role": role}


async def test_viewers_read_but_may_not_write(clients: dict[str, httpx.AsyncClient]) -> None:
    viewer = clients["viewer"]

    read = await viewer.get("/api/v1/servers")
    write = await viewer.post("/api/v1/servers", json=server_doc("files"))

    assert read.status_code == 200
    assert write.status_code == 403
    assert write.json()["code"] == "permission_denied"
    assert (await viewer.get("/api/v1/servers")).json()["items"] == []


async def test_operators_write_resources_but_not_admin_keys(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    operator = clients["operator"]

    resource = await operator.post("/api/v1/servers", json=server_doc("files"))
    key = await operator.post("/api/v1/admin-keys", json={"name": "ci", "role": "viewer"})
    revoke = await operator.delete("/api/v1/admin-keys/viewer-key")

    assert resource.status_code == 201
    assert [key.status_code, revoke.status_code] == [403, 403]


async def test_a_new_admin_key_works_at_once_and_stops_when_revoked(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    admin = clients["admin"]
    created = await admin.post("/api/v1/admin-keys", json={"name": "ci", "role": "operator"})
    assert created.status_code == 201, created.text
    token = created.json()["apiKey"]
    headers = {"Authorization": f"Bearer {token}"}

    before = await admin.get("/api/v1/whoami", headers=headers)
    revoked = await admin.delete("/api/v1/admin-keys/ci")
    after = await admin.get("/api/v1/whoami", headers=headers)

    assert before.json() == {"name": "ci", "role": "operator"}
    assert revoked.status_code == 204
    assert after.status_code == 401


async def test_admin_key_listings_never_show_keys(clients: dict[str, httpx.AsyncClient]) -> None:
    response = await clients["viewer"].get("/api/v1/admin-keys")

    assert response.status_code == 200
    listed = {item["name"]: item["role"] for item in response.json()["items"]}
    assert listed == {f"{role}-key": role for role in TOKENS}
    assert all(token not in response.text for token in TOKENS.values())


async def test_duplicate_admin_key_names_are_409(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/admin-keys", json={"name": "viewer-key", "role": "viewer"})

    assert response.status_code == 409


async def test_refusals_come_before_body_validation(clients: dict[str, httpx.AsyncClient]) -> None:
    anonymous = await clients["anonymous"].post("/api/v1/servers", json={"nonsense": True})
    viewer = await clients["viewer"].post("/api/v1/servers", json={"nonsense": True})

    assert [anonymous.status_code, viewer.status_code] == [401, 403]


async def test_unknown_routes_and_methods_are_problems(api: httpx.AsyncClient) -> None:
    missing = await api.get("/api/v1/nothing-here")
    method = await api.patch("/api/v1/servers", json={})

    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert (method.status_code, method.json()["code"]) == (405, "method_not_allowed")
    assert "GET" in method.headers["allow"]


async def test_without_an_identity_provider_sign_in_offers_admin_keys_only(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    response = await clients["anonymous"].get("/api/v1/sign-in")

    assert (response.status_code, response.json()) == (200, {"identityProvider": None})


async def test_openapi_and_docs_are_served_without_auth(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    anonymous = clients["anonymous"]

    spec = await anonymous.get(f"{BASE}/api/openapi.json")
    docs = await anonymous.get(f"{BASE}/api/docs")

    assert spec.json()["openapi"].startswith("3.1")
    assert "Problem" in spec.json()["components"]["schemas"]
    assert docs.status_code == 200
