"""`GET /api/v1/quotas`: each active subscription's quota and its use, the most used first,
filtered by how much is used; viewers may read it."""

from __future__ import annotations

import httpx
import pytest

from giru.api.context import QuotaUse
from tests.integration.api.conftest import FakeRuntime, fields_of

pytestmark = pytest.mark.integration


def _use(subscription: str, period: str, limit: int, used: int) -> QuotaUse:
    return {
        "subscription": subscription,
        "client": "ana" if subscription.startswith("ana") else None,
        "subject": None if subscription.startswith("ana") else {"group": "nurses"},
        "server": "files",
        "period": "day" if period == "day" else "month",
        "limit": limit,
        "used": used,
    }


async def test_quotas_are_listed_most_used_first_and_filtered_by_use(
    clients: dict[str, httpx.AsyncClient], runtime: FakeRuntime
) -> None:
    runtime.quotas = [
        _use("ana-files", "day", 10, 8),
        _use("ana-files", "month", 100, 8),
        _use("nurses-files", "day", 0, 0),
        _use("nurses-files", "month", 50, 49),
    ]
    listed = await clients["viewer"].get("/api/v1/quotas")
    assert listed.status_code == 200, listed.text
    assert [
        (i["subscription"], i["period"], i["usedFraction"]) for i in listed.json()["items"]
    ] == [
        ("nurses-files", "day", 1.0),
        ("nurses-files", "month", 0.98),
        ("ana-files", "day", 0.8),
        ("ana-files", "month", 0.08),
    ]
    near = await clients["viewer"].get("/api/v1/quotas", params={"minUsed": 0.8})
    assert near.json()["items"][2] == {
        "subscription": "ana-files",
        "client": "ana",
        "subject": None,
        "server": "files",
        "period": "day",
        "limit": 10,
        "used": 8,
        "usedFraction": 0.8,
    }
    assert len(near.json()["items"]) == 3
    assert near.json()["items"][0]["subject"] == {"group": "nurses"}


@pytest.mark.parametrize("value", ["1.5", "-0.1", "most"])
async def test_a_use_threshold_outside_0_to_1_is_refused(
    api: httpx.AsyncClient, value: str
) -> None:
    answer = await api.get("/api/v1/quotas", params={"minUsed": value})
    assert answer.status_code == 422
    assert fields_of(answer) == {"query.minUsed"}


async def test_quotas_need_a_token(clients: dict[str, httpx.AsyncClient]) -> None:
    assert (await clients["anonymous"].get("/api/v1/quotas")).status_code == 401
