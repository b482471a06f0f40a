"""A real in-process OAuth authorization server and protected MCP resource on loopback.

`TestAS` serves RFC 9728 metadata for `/mcp`, RFC 8414 metadata, and a token endpoint that
records every form it gets; tests change its answers (`metadata`, `token_reply`, `stall`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from giru.credentials.oauth import OAuthHttp
from giru.egress import UPSTREAMS, egress_session


@dataclass
class TokenRequest:
    form: dict[str, str]
    authorization: str | None


@dataclass
class TestAS:
    __test__ = False
    port: int = 0
    hits: list[str] = field(default_factory=list)
    tokens: list[TokenRequest] = field(default_factory=list)
    prm_override: dict[str, Any] | None = None
    metadata_override: dict[str, Any] | None = None
    token_reply: Callable[[TokenRequest], web.Response] | None = None
    stall: asyncio.Event | None = None
    """When set, the token endpoint waits for it (never set: the client's timeout ends it)."""
    challenge: str | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def server_url(self) -> str:
        return f"{self.base}/mcp"

    def metadata(self) -> dict[str, Any]:
        return self.metadata_override or {
            "issuer": self.base,
            "token_endpoint": f"{self.base}/token",
            "authorization_endpoint": f"{self.base}/authorize",
            "grant_types_supported": ["client_credentials", "authorization_code"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["mcp:read", "mcp:write"],
        }


@pytest.fixture
async def auth_server() -> AsyncIterator[TestAS]:
    state = TestAS()

    async def prm(request: web.Request) -> web.Response:
        state.hits.append(request.path)
        body = state.prm_override or {
            "resource": state.server_url,
            "authorization_servers": [state.base],
            "scopes_supported": ["mcp:read"],
        }
        return web.json_response(body)

    async def metadata(request: web.Request) -> web.Response:
        state.hits.append(request.path)
        return web.json_response(state.metadata())

    async def mcp(request: web.Request) -> web.Response:
        state.hits.append(request.path)
        header = state.challenge or (
            f'Bearer resource_metadata="{state.base}/.well-known/oauth-protected-resource/mcp"'
        )
        return web.json_response({}, status=401, headers={"WWW-Authenticate": header})

    async def token(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        seen = TokenRequest(form, request.headers.get("Authorization"))
        state.tokens.append(seen)
        if state.stall is not None:
            await state.stall.wait()
        if state.token_reply is not None:
            return state.token_reply(seen)
        return web.json_response(
            {"access_token": f"at-{len(state.tokens)}", "token_type": "Bearer", "expires_in": 600}
        )

    app = web.Application()
    app.router.add_get("/.well-known/oauth-protected-resource/mcp", prm)
    app.router.add_get("/.well-known/oauth-authorization-server", metadata)
    app.router.add_post("/mcp", mcp)
    app.router.add_post("/token", token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    state.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    try:
        yield state
    finally:
        if state.stall is not None:
            state.stall.set()
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with egress_session(UPSTREAMS) as session:
        yield session


@pytest.fixture
def oauth_http(http: aiohttp.ClientSession) -> OAuthHttp:
    return OAuthHttp(http, timeout_s=2.0, max_bytes=4096)
