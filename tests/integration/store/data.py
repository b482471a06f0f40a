"""Specs and a small seed shared by the store contract tests."""

from __future__ import annotations

from typing import Any

from giru.store import Store

PEPPER = b"store-test-pepper"
ACTOR = "tester"
URL = "https://mcp.example.com/mcp"


def http_server(url: str = URL, **extra: Any) -> dict[str, Any]:
    return {"transport": "streamable-http", "url": url, **extra}


def subscription(client: str | None = "ci", server: str = "github", **extra: Any) -> dict[str, Any]:
    return {"client": client, "server": server, "scopeType": "all", **extra}


async def seed(store: Store) -> None:
    """Servers `github` and `jira`, and a client `ci` holding a key from its spec."""
    await store.create("MCPServer", "github", http_server(), actor=ACTOR)
    await store.create(
        "MCPServer", "jira", http_server("https://jira.example.com/mcp"), actor=ACTOR
    )
    await store.create("Client", "ci", {"apiKeyEnv": "CI_KEY", "servers": ["github"]}, actor=ACTOR)
