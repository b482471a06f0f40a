"""`GET /api/v1/usage` over the real store (both backends), called through ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from giru.api import build_api
from giru.store import Store
from tests.integration.api.conftest import BASE, PEPPER, TOKENS, FakeRuntime
from tests.unit.metering.data import record

pytestmark = pytest.mark.integration


@pytest.fixture
async def viewer(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A viewer's client of the API over a store holding a few usage records."""
    store = await Store.open(database_url, pepper=PEPPER)
    await store.ensure_admin_key("viewer-key", TOKENS["viewer"], "viewer")
    await store.insert_usage(
        [
            record(client="alice", duration_ms=10.0),
            record(client="alice", duration_ms=20.0, outcome="tool_error"),
            record(client="alice", duration_ms=0.0, outcome="quota_exceeded", status=-31430),
            record(client="bob", tool="add", at=datetime(2026, 3, 15, 1, tzinfo=UTC)),
        ]
    )
    app = build_api(store, runtime=FakeRuntime(store), pepper=PEPPER)
    headers = {"Authorization": f"Bearer {TOKENS['viewer']}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE, headers=headers
    ) as client:
        yield client
    await store.aclose()


async def test_usage_groups_by_client_for_a_viewer(viewer: httpx.AsyncClient) -> None:
    response = await viewer.get("/api/v1/usage", params={"groupBy": "client"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "items": [
            {
                "key": "alice",
                "calls": 3,
                "errors": 1,
                "rejected": 1,
                "durationMsP50": 15.0,
                "durationMsP95": 19.5,
                "durationMsP99": 19.9,
                "bytesIn": 360,
                "bytesOut": 1020,
            },
            {
                "key": "bob",
                "calls": 1,
                "errors": 0,
                "rejected": 0,
                "durationMsP50": 12.5,
                "durationMsP95": 12.5,
                "durationMsP99": 12.5,
                "bytesIn": 120,
                "bytesOut": 340,
            },
        ]
    }


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({}, [None]),
        ({"groupBy": "tool"}, ["kit__add", "kit__echo"]),
        ({"groupBy": "day"}, ["2026-03-14", "2026-03-15"]),
        ({"groupBy": "day", "from": "2026-03-15"}, ["2026-03-15"]),
        ({"groupBy": "day", "to": "2026-03-15T00:00:00Z"}, ["2026-03-14"]),
        ({"groupBy": "client", "tool": "add"}, ["bob"]),
        ({"groupBy": "client", "client": "carol"}, []),
    ],
)
async def test_usage_filters_and_groups(
    viewer: httpx.AsyncClient, params: dict[str, str], keys: list[str | None]
) -> None:
    response = await viewer.get("/api/v1/usage", params=params)
    assert response.status_code == 200, response.text
    assert [item["key"] for item in response.json()["items"]] == keys


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"groupBy": "colour"}, "groupBy"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-03-15", "to": "2026-03-14"}, "to"),
        ({"from": "0001-01-01T00:00:00+05:00"}, "from"),
        ({"to": "2026-02-30"}, "to"),
        ({"client": "Not A Name"}, "client"),
    ],
)
async def test_bad_usage_queries_are_problems(
    viewer: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    response = await viewer.get("/api/v1/usage", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert f"query.{field}" in {error["field"] for error in response.json()["errors"]}


async def test_usage_needs_an_admin_key(viewer: httpx.AsyncClient) -> None:
    response = await viewer.get("/api/v1/usage", headers={"Authorization": ""})
    assert response.status_code == 401


async def test_usage_groups_by_person_and_by_agent_and_filters_by_person(
    database_url: str,
) -> None:
    store = await Store.open(database_url, pepper=PEPPER)
    await store.ensure_admin_key("viewer-key", TOKENS["viewer"], "viewer")
    alice = {"client": "user:alice@hospital.example", "person": "alice@hospital.example"}
    await store.insert_usage(
        [
            record(**alice, agent="claude-desktop"),
            record(**alice, agent="cursor"),
            record(client="alice"),
        ]
    )
    app = build_api(store, runtime=FakeRuntime(store), pepper=PEPPER)
    headers = {"Authorization": f"Bearer {TOKENS['viewer']}"}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE, headers=headers
        ) as viewer:
            people = await viewer.get("/api/v1/usage", params={"groupBy": "person"})
            agents = await viewer.get(
                "/api/v1/usage", params={"groupBy": "agent", "person": "alice@hospital.example"}
            )
            bad = await viewer.get("/api/v1/usage", params={"person": "a\x01b"})
    finally:
        await store.aclose()
    assert [(i["key"], i["calls"]) for i in people.json()["items"]] == [
        ("alice@hospital.example", 2),
        (None, 1),
    ]
    assert [i["key"] for i in agents.json()["items"]] == ["claude-desktop", "cursor"]
    assert bad.status_code == 422
