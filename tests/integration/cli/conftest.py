"""A real control-plane API (`build_api` over a SQLite `Store`) served by uvicorn on loopback.

The server runs in a thread with its own event loop; the listening socket is bound before the
thread starts, so the CLI can connect as soon as the fixture returns (the kernel queues it).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from giru.api import build_api
from giru.api.context import ClientTool, NoPolicyEngine, QuotaUse
from giru.credentials import DatabaseBackend, Keyring, SecretStore
from giru.store import Store, SyncResult

PEPPER = b"cli-test-pepper-0123456789abcdef"
TOKEN = "giru_cli-test-admin-token-0123456789abcdefghij"
VIEWER_TOKEN = "giru_cli-test-viewer-token-0123456789abcdefghi"
SECRETS_KEY = bytes(range(32)).hex()
STARTUP_S = 30.0
# What examples/manifests/ reads from the gateway's environment.
EXAMPLE_ENV = {"GITHUB_TOKEN": "ghp-test", "GIRU_ADMIN_KEY": "giru_example-admin", "HOME": "/root"}
FAKE_TOOLS = [
    {"name": "echo", "description": "Echo the input.", "inputSchema": {"type": "object"}},
    {"name": "add", "description": "Add two numbers.", "inputSchema": {"type": "object"}},
]


@dataclass
class FakeRuntime(NoPolicyEngine):
    """The gateway's side of the API without a gateway: sync records two fixed tools; policy
    decisions deny arguments holding `card` (`NoPolicyEngine` for the rest)."""

    store: Store
    notified: int = 0

    async def sync(self, server: str) -> SyncResult:
        return await self.store.sync_tools(server, FAKE_TOOLS, tags={"echo": ["demo"]})

    async def client_tools(self, client: str) -> list[ClientTool]:
        return []

    async def quota_use(self) -> list[QuotaUse]:
        return []

    def notify(self) -> None:
        self.notified += 1

    async def evaluate_policy(self, input: dict[str, Any]) -> dict[str, Any]:
        arguments = (input.get("mcp") or {}).get("arguments") or {}
        if "broken" in arguments:
            return await super().evaluate_policy(input)
        deny = [
            {"pack": "pci_dss", "control": "PCI DSS Req 3.4", "message": "PAN in 'card'"}
            for key in arguments
            if key == "card"
        ]
        redact = [{"target": "result", "kind": "pan", "action": "mask"}]
        audit = {"controls": ["PCI DSS Req 10.2"]}
        return {"allow": not deny, "deny": deny, "redact": redact, "audit": audit, "alerts": []}


@dataclass
class RunningApi:
    url: str
    home: Path
    failures: list[BaseException] = field(default_factory=list)

    def env(self, token: str = TOKEN, **extra: str) -> dict[str, str]:
        """What the CLI needs to talk to this API (and a private config directory)."""
        base = {"GIRU_API_URL": self.url, "GIRU_TOKEN": token, "XDG_CONFIG_HOME": str(self.home)}
        return {**base, **extra}


async def _serve(
    sock: socket.socket, database: str, started: threading.Event, holder: list[uvicorn.Server]
) -> None:
    store = await Store.open(database, pepper=PEPPER)
    try:
        await store.ensure_admin_key("ops", TOKEN, "admin")
        await store.ensure_admin_key("auditor", VIEWER_TOKEN, "viewer")
        secrets = SecretStore(
            store,
            {"database": DatabaseBackend(Keyring.from_text([SECRETS_KEY]))},
            default="database",
            max_bytes=64 * 1024,
        )
        app = build_api(store, runtime=FakeRuntime(store), pepper=PEPPER, secrets_store=secrets)
        server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
        holder.append(server)
        started.set()
        await server.serve(sockets=[sock])
    finally:
        await store.aclose()


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningApi]:
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    running = RunningApi(f"http://127.0.0.1:{port}", tmp_path / "config")
    started = threading.Event()
    holder: list[uvicorn.Server] = []
    database = f"sqlite+aiosqlite:///{tmp_path / 'giru.db'}"

    def main() -> None:
        try:
            asyncio.run(_serve(sock, database, started, holder))
        except BaseException as exc:  # reported by the fixture's teardown
            running.failures.append(exc)
            started.set()

    thread = threading.Thread(target=main, name="giru-api", daemon=True)
    thread.start()
    try:
        assert started.wait(STARTUP_S), "the API did not start"
        assert not running.failures, running.failures
        yield running
    finally:
        if holder:
            holder[0].should_exit = True
        thread.join(STARTUP_S)
        sock.close()
    assert not thread.is_alive(), "the API did not stop"
    assert not running.failures, running.failures


def rows(text: str) -> list[list[str]]:
    """A printed table as lists of cells (split on runs of blanks)."""
    return [line.split() for line in text.splitlines() if line.strip()]


def by_name(items: list[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {item["metadata"]["name"]: item for item in items}
