"""`/api/v1/secrets`: values go in and never come out; names, sizes and roles are checked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from giru.api import build_api
from giru.credentials import DatabaseBackend, Keyring, SecretStore
from giru.store import Store
from tests.integration.api.conftest import BASE, PEPPER, TOKENS, FakeRuntime, errors_of

pytestmark = pytest.mark.integration

TOKEN = "ghp_api-test-token-0123456789abcdef"


@pytest.fixture
async def secret_api(
    store: Store, runtime: FakeRuntime, tmp_path: Path
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    secrets = SecretStore(
        store,
        {"database": DatabaseBackend(Keyring.from_text([bytes(range(32)).hex()]))},
        default="database",
        max_bytes=64 * 1024,
    )
    app = build_api(store, runtime=runtime, pepper=PEPPER, secrets_store=secrets)
    transport = httpx.ASGITransport(app=app)
    made = {
        role: httpx.AsyncClient(
            transport=transport, base_url=BASE, headers={"Authorization": f"Bearer {token}"}
        )
        for role, token in TOKENS.items()
    }
    try:
        yield made
    finally:
        for client in made.values():
            await client.aclose()


async def test_a_put_secret_answers_metadata_and_no_read_returns_the_value(
    secret_api: dict[str, httpx.AsyncClient], runtime: FakeRuntime
) -> None:
    operator = secret_api["operator"]
    created = await operator.put("/api/v1/secrets/github-token", json={"data": {"value": TOKEN}})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["version"], body["backend"]) == ("github-token", 1, "database")
    assert body["entries"] == ["value"]
    assert body["updatedBy"] == "operator-key"
    replaced = await operator.put("/api/v1/secrets/github-token", json={"data": {"value": "x"}})
    assert (replaced.status_code, replaced.json()["version"]) == (200, 2)
    assert runtime.notified == 2
    viewer = secret_api["viewer"]
    one = await viewer.get("/api/v1/secrets/github-token")
    listed = await viewer.get("/api/v1/secrets")
    assert one.status_code == listed.status_code == 200
    assert [item["name"] for item in listed.json()["items"]] == ["github-token"]
    for response in (created, replaced, one, listed):
        assert TOKEN not in response.text
        assert 'value": "x' not in response.text


async def test_a_viewer_cannot_set_and_an_operator_cannot_rotate(
    secret_api: dict[str, httpx.AsyncClient],
) -> None:
    put = await secret_api["viewer"].put("/api/v1/secrets/a", json={"data": {"value": "v"}})
    rotate = await secret_api["operator"].post("/api/v1/secrets:rotate-key")
    assert (put.status_code, rotate.status_code) == (403, 403)


async def test_the_admin_rotates_the_key(secret_api: dict[str, httpx.AsyncClient]) -> None:
    await secret_api["admin"].put("/api/v1/secrets/a", json={"data": {"value": "v"}})
    rotated = await secret_api["admin"].post("/api/v1/secrets:rotate-key")
    assert rotated.status_code == 200, rotated.text
    assert rotated.json() == {
        "keyId": rotated.json()["keyId"],
        "rewrapped": 0,
        "failed": 0,
        "generated": False,
    }


@pytest.mark.parametrize("name", ["..%2f..%2fetc", "a..b", "Upper", "a%2Fb", "-a"])
async def test_a_name_that_could_climb_a_path_is_refused(
    secret_api: dict[str, httpx.AsyncClient], name: str
) -> None:
    response = await secret_api["admin"].put(
        f"/api/v1/secrets/{name}", json={"data": {"value": "v"}}
    )
    assert response.status_code in (404, 422), response.text
    assert (await secret_api["admin"].get("/api/v1/secrets")).json()["items"] == []


async def test_a_10_mb_secret_is_refused_with_a_clear_413(
    secret_api: dict[str, httpx.AsyncClient],
) -> None:
    huge = await secret_api["admin"].put(
        "/api/v1/secrets/big", json={"data": {"value": "x" * (10 * 1024 * 1024)}}
    )
    assert huge.status_code == 413
    assert huge.json()["code"] == "body_too_large"
    over = await secret_api["admin"].put(
        "/api/v1/secrets/big", json={"data": {"value": "x" * (100 * 1024)}}
    )
    assert over.status_code == 413
    assert over.json()["code"] == "secret_too_large"
    assert "at most 65536" in over.json()["detail"]


async def test_bad_entries_are_named(secret_api: dict[str, httpx.AsyncClient]) -> None:
    response = await secret_api["admin"].put("/api/v1/secrets/a", json={"data": {"../k": "v"}})
    assert response.status_code == 422
    assert errors_of(response)[0]["field"] == "data.../k"
    not_text = await secret_api["admin"].put("/api/v1/secrets/a", json={"data": {"value": 1}})
    assert not_text.status_code == 422


async def test_delete_forgets_a_secret(secret_api: dict[str, httpx.AsyncClient]) -> None:
    admin = secret_api["admin"]
    await admin.put("/api/v1/secrets/a", json={"data": {"value": "v"}})
    assert (await admin.delete("/api/v1/secrets/a")).status_code == 204
    assert (await admin.get("/api/v1/secrets/a")).status_code == 404
    assert (await admin.delete("/api/v1/secrets/a")).status_code == 404


async def test_without_a_secret_store_the_routes_answer_503(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    response = await clients["admin"].get("/api/v1/secrets")
    assert response.status_code == 503
    assert response.json()["code"] == "credentials_unavailable"
