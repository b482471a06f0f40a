"""`GET /api/v1/audit` and `GET /api/v1/audit/verify` over the real store (both backends)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from giru.api import build_api
from giru.audit import link
from giru.store import Store
from tests.integration.api.conftest import BASE, PEPPER, TOKENS, FakeRuntime
from tests.unit.audit.data import AT, record

pytestmark = pytest.mark.integration


_PCI = "PCI DSS Req 3.4"
_DENIED = {
    "status": 403,
    "policy": {"controls": [_PCI, "PCI DSS Req 10.2"]},
    "violations": [{"pack": "pci_dss", "control": _PCI}],
}
_ALLOWED = {"status": 200, "policy": {"controls": ["PCI DSS Req 10.2"]}}


@dataclass
class Api:
    store: Store
    viewer: httpx.AsyncClient
    anonymous: httpx.AsyncClient


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    """The API over a store holding two chains: node-1 (6 records), node-2 (1)."""
    store = await Store.open(database_url, pepper=PEPPER)
    await store.ensure_admin_key("viewer-key", TOKENS["viewer"], "viewer")
    made, _ = link(
        [
            *(
                record(
                    at=AT + timedelta(minutes=i),
                    outcome="policy_denied" if i % 2 else "allowed",
                    reasons=["PCI DSS Req 3.4"] if i % 2 else [],
                    details=_DENIED if i % 2 else _ALLOWED,
                )
                for i in range(6)
            ),
            record(node="node-2", actor="bob", action="tools/list", server=None, target=None),
        ],
        {},
    )
    await store.insert_audit(made)
    transport = httpx.ASGITransport(app=build_api(store, runtime=FakeRuntime(store), pepper=PEPPER))
    headers = {"Authorization": f"Bearer {TOKENS['viewer']}"}
    async with (
        httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as viewer,
        httpx.AsyncClient(transport=transport, base_url=BASE) as anonymous,
    ):
        yield Api(store, viewer, anonymous)
    await store.aclose()


async def test_records_are_listed_newest_first_with_every_field(api: Api) -> None:
    response = await api.viewer.get("/api/v1/audit", params={"node": "node-1", "limit": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    first = body["items"][0]
    assert (first["seq"], first["outcome"], first["reasons"]) == (
        6,
        "policy_denied",
        ["PCI DSS Req 3.4"],
    )
    assert first["at"] == "2026-03-14T15:14:26.535897Z"
    assert set(first) == {
        "eventId", "at", "node", "seq", "actor", "action", "server", "target", "outcome",
        "reasons", "policyRevision", "sourceIp", "details", "prevHash", "hash", "traceId",
        "traceUrl",
    }  # fmt: skip
    assert (first["traceId"], first["traceUrl"]) == (None, None)  # tracing was off
    rest = await api.viewer.get(
        "/api/v1/audit", params={"node": "node-1", "cursor": body["nextCursor"]}
    )
    assert [item["seq"] for item in rest.json()["items"]] == [4, 3, 2, 1]
    assert rest.json()["nextCursor"] is None


async def test_a_record_with_a_trace_links_it_in_the_tracing_ui(database_url: str) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    store = await Store.open(database_url, pepper=PEPPER)
    await store.ensure_admin_key("viewer-key", TOKENS["viewer"], "viewer")
    made, _ = link(
        [
            record(details={"status": 200, "trace_id": trace_id}),
            record(details={"status": 200, "trace_id": "javascript:alert(1)"}),
            record(details={"status": 200}),
        ],
        {},
    )
    await store.insert_audit(made)
    app = build_api(
        store,
        runtime=FakeRuntime(store),
        pepper=PEPPER,
        trace_url="http://jaeger:16686/trace/{trace_id}",
    )
    headers = {"Authorization": f"Bearer {TOKENS['viewer']}"}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE, headers=headers
        ) as viewer:
            response = await viewer.get("/api/v1/audit", params={"order": "oldest"})
    finally:
        await store.aclose()
    assert response.status_code == 200, response.text
    links = [(item["traceId"], item["traceUrl"]) for item in response.json()["items"]]
    assert links == [
        (trace_id, f"http://jaeger:16686/trace/{trace_id}"),
        (None, None),  # not a trace id: never turned into a link
        (None, None),
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"outcome": "policy_denied"}, [("node-1", 6), ("node-1", 4), ("node-1", 2)]),
        ({"actor": "bob"}, [("node-2", 1)]),
        ({"action": "tools/list"}, [("node-2", 1)]),
        (
            {"server": "kit", "target": "echo", "order": "oldest", "limit": 2},
            [("node-1", 1), ("node-1", 2)],
        ),
        (
            {"since": "2026-03-14T15:12:00Z", "until": "2026-03-14T15:14:00"},
            [("node-1", 5), ("node-1", 4)],
        ),
        ({"since": "2026-03-15"}, []),
        ({"control": _PCI}, [("node-1", 6), ("node-1", 4), ("node-1", 2)]),
        (
            {"control": "PCI DSS Req 10.2", "outcome": "allowed", "limit": 2},
            [("node-1", 5), ("node-1", 3)],
        ),
        ({"control": "HIPAA 164.312(b)"}, []),
    ],
)
async def test_filters_narrow_the_listing(
    api: Api, params: dict[str, str], expected: list[tuple[str, int]]
) -> None:
    response = await api.viewer.get("/api/v1/audit", params=params)
    assert response.status_code == 200, response.text
    assert [(i["node"], i["seq"]) for i in response.json()["items"]] == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "query.since"),
        ({"since": "2026-13-45"}, "query.since"),
        ({"since": "2026-03-15", "until": "2026-03-14"}, "query.until"),
        ({"limit": "0"}, "query.limit"),
        ({"order": "random"}, "query.order"),
        ({"actor": "a\x01b"}, "query.actor"),
        ({"control": "PCI\x00"}, "query.control"),
        ({"control": "x" * 201}, "query.control"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
async def test_bad_filters_are_problems(api: Api, params: dict[str, str], field: str) -> None:
    response = await api.viewer.get("/api/v1/audit", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "validation_failed"
    assert field in {error["field"] for error in response.json()["errors"]}


async def test_verify_reports_intact_chains(api: Api) -> None:
    response = await api.viewer.get("/api/v1/audit/verify")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["ok"], body["records"], body["nodes"], body["problems"]) == (True, 7, 2, [])
    assert [(h["node"], h["seq"]) for h in body["heads"]] == [("node-1", 6), ("node-2", 1)]
    only = (await api.viewer.get("/api/v1/audit/verify", params={"node": "node-2"})).json()
    assert (only["records"], only["nodes"]) == (1, 1)


async def test_verify_names_an_edited_record(api: Api) -> None:
    async with api.store.database.read() as session:
        if api.store.database.dialect == "postgresql":
            await session.execute(text("SET session_replication_role = replica"))
        else:
            await session.execute(text("DROP TRIGGER audit_records_no_update"))
        await session.execute(text("UPDATE audit_records SET actor = 'mallory' WHERE seq = 3"))
        await session.commit()
    [victim] = (await api.viewer.get("/api/v1/audit", params={"actor": "mallory"})).json()["items"]
    body = (await api.viewer.get("/api/v1/audit/verify")).json()
    assert body["ok"] is False
    assert body["problems"] == [
        {
            "node": "node-1",
            "seq": 3,
            "eventId": victim["eventId"],
            "kind": "altered",
            "message": "hash mismatch (record altered)",
        }
    ]


@pytest.mark.parametrize("path", ["/api/v1/audit", "/api/v1/audit/verify"])
async def test_the_audit_log_needs_an_admin_key(api: Api, path: str) -> None:
    response = await api.anonymous.get(path)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
