"""A real in-process HTTP origin on loopback that counts its hits and redirects on demand."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult


@dataclass
class Origin:
    port: int
    hits: Counter[str] = field(default_factory=Counter)
    cookies: list[str] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
async def origin() -> AsyncIterator[Origin]:
    """`/ok` answers 200 setting a cookie (the cookies it is sent are kept); `/redirect?to=URL`
    answers 307 to URL. Every hit is counted by path."""
    state = Origin(port=0)

    async def ok(request: web.Request) -> web.Response:
        state.hits[request.path] += 1
        state.cookies.extend(request.cookies)
        response = web.json_response({"ok": True})
        response.set_cookie("origin", "set-by-the-origin")
        return response

    async def redirect(request: web.Request) -> web.Response:
        state.hits[request.path] += 1
        raise web.HTTPTemporaryRedirect(request.query["to"])

    app = web.Application()
    app.router.add_route("*", "/ok", ok)
    app.router.add_route("*", "/redirect", redirect)
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
        await runner.cleanup()


class FakeResolver(AbstractResolver):
    """Resolves names from a table (a DNS answer Giru does not control)."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in self.table[host]
        ]

    async def close(self) -> None:
        return None
