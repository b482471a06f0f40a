"""The REST API over a real store (SQLite in a temp dir, and PostgreSQL), called through ASGI.

`ApiRuntime` is the one in-process fake: a recorder of `notify()` calls that syncs catalogs from
a table of tools instead of a live upstream and returns client views set by the test; its policy
engine denies arguments holding `card` (the real OPA engine is tested with the gateway).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from giru.api import ClientTool, build_api
from giru.api.context import QuotaUse
from giru.errors import PolicyUnavailableError, UpstreamUnavailableError
from giru.policy.replay import Recorded
from giru.store import Store, SyncResult

PEPPER = b"api-tests-pepper-0123456789abcdef"
TOKENS = {
    "admin": "giru_test-admin-token-0000000000000000000000",
    "operator": "giru_test-operator-token-00000000000000000000",
    "viewer": "giru_test-viewer-token-0000000000000000000000",
}
BASE = "http://giru.test"


class FakeRuntime:
    """Counts `notify()` calls; syncs from `tools`; `views` are the clients' compiled tools."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.notified = 0
        self.tools: dict[str, list[dict[str, Any]]] = {}
        self.views: dict[str, list[ClientTool]] = {}
        self.quotas: list[QuotaUse] = []
        self.unreachable: set[str] = set()
        self.policy_active = True
        self.evaluated: list[dict[str, Any]] = []

    async def sync(self, server: str) -> SyncResult:
        if server in self.unreachable:
            raise UpstreamUnavailableError(server, f"cannot connect to {server}")
        return await self.store.sync_tools(server, self.tools.get(server, []), tags={})

    async def client_tools(self, client: str) -> list[ClientTool]:
        return self.views.get(client, [])

    async def quota_use(self) -> list[QuotaUse]:
        return self.quotas

    def notify(self) -> None:
        self.notified += 1

    async def evaluate_policy(self, input: dict[str, Any]) -> dict[str, Any]:
        if not self.policy_active:
            raise PolicyUnavailableError("no policy engine is attached")
        self.evaluated.append(input)
        mcp = input.get("mcp")
        arguments = mcp.get("arguments") if isinstance(mcp, dict) else None
        deny = (
            [{"pack": "pci_dss", "control": "PCI DSS Req 3.4", "message": "PAN in 'card'"}]
            if isinstance(arguments, dict) and "card" in arguments
            else []
        )
        return {
            "allow": not deny,
            "deny": deny,
            "redact": [],
            "audit": {"controls": ["PCI DSS Req 10.2"]},
            "alerts": [],
            "revision": "rev-1",
        }

    def policy_status(self) -> dict[str, Any]:
        return {
            "active": self.policy_active,
            "revision": "rev-1" if self.policy_active else None,
            "packs": ["core", "pci_dss"] if self.policy_active else [],
            "opa": "embedded",
            "url": None,
            "lastError": None,
        }

    def policy_bundle(self) -> tuple[bytes, str]:
        return b"", "rev-1"

    async def replay_policy(
        self, files: Mapping[str, str], calls: Sequence[Recorded]
    ) -> dict[str, Any]:
        counts = {"newlyDenied": 0, "newlyAllowed": 0, "newlyHeld": 0}
        return {
            **{"calls": len(calls), "replayed": len(calls), "skipped": 0, "unreproduced": 0},
            **counts,
            "controls": [],
            "changes": [],
        }


def server_doc(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"transport": "stdio", "command": "echo", **spec}}


def client_doc(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": spec}


def subscription_doc(name: str, client: str, server: str, **spec: Any) -> dict[str, Any]:
    body = {"client": client, "server": server, "scopeType": "all", **spec}
    return {"metadata": {"name": name}, "spec": body}


def manifest(kind: str, document: Mapping[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "giru.ai/v1alpha1", "kind": kind, **document}


def errors_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.headers["content-type"] == "application/problem+json"
    errors: list[dict[str, Any]] = response.json().get("errors", [])
    return errors


def fields_of(response: httpx.Response) -> set[str]:
    return {error["field"] for error in errors_of(response)}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/giru.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(database_url, pepper=PEPPER)
    try:
        for role, token in TOKENS.items():
            await opened.ensure_admin_key(f"{role}-key", token, role)
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
def runtime(store: Store) -> FakeRuntime:
    return FakeRuntime(store)


@pytest.fixture
async def clients(
    store: Store, runtime: FakeRuntime
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """One HTTP client per role (`admin`, `operator`, `viewer`) and one without a token."""
    app = build_api(store, runtime=runtime, pepper=PEPPER)
    transport = httpx.ASGITransport(app=app)
    made = {
        role: httpx.AsyncClient(
            transport=transport, base_url=BASE, headers={"Authorization": f"Bearer {token}"}
        )
        for role, token in TOKENS.items()
    }
    made["anonymous"] = httpx.AsyncClient(transport=transport, base_url=BASE)
    try:
        yield made
    finally:
        for client in made.values():
            await client.aclose()


@pytest.fixture
def api(clients: dict[str, httpx.AsyncClient]) -> httpx.AsyncClient:
    """The admin's client."""
    return clients["admin"]


async def create_all(
    api: httpx.AsyncClient, path: str, documents: Sequence[dict[str, Any]]
) -> None:
    for document in documents:
        response = await api.post(path, json=document)
        assert response.status_code == 201, response.text
