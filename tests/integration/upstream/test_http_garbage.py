"""HTTP upstreams that answer garbage: every case is an UpstreamProtocolError with a hash."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from giru.egress import UPSTREAMS, egress_session
from giru.errors import UpstreamProtocolError
from giru.upstream import ServerSpec, Timeouts, connect
from tests.integration.upstream.conftest import IDENTITY, Inbox

pytestmark = pytest.mark.integration

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _answer(body: bytes, content_type: str, status: int = 200) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(body=body, status=status, headers={"Content-Type": content_type})

    return handle


async def _big(request: web.Request) -> web.StreamResponse:
    await request.read()
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    chunk = b" " * (1024 * 1024)
    for _ in range(17):
        await response.write(chunk)
    await response.write_eof()
    return response


@pytest.fixture
async def fake() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def serve(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/mcp", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/mcp"

    yield serve
    for runner in runners:
        await runner.cleanup()


@pytest.mark.parametrize(
    "handler",
    [
        _answer(b"<html>hello</html>", "text/html"),
        _answer(b"not json at all", "application/json"),
        _answer(b'{"jsonrpc":"1.0","id":1,"result":{}}', "application/json"),
        _answer(b'{"jsonrpc":"2.0","id":1,"result":"\xff"}', "application/json"),
        _answer(b"data: \xff\xfe\n\n", "text/event-stream"),
        _answer(b"data: <html>\n\n", "text/event-stream"),
        _big,
    ],
    ids=["html", "non-json", "wrong-jsonrpc", "bad-utf8", "sse-bad-utf8", "sse-garbage", "50mb"],
)
async def test_garbage_is_a_protocol_error_with_a_hash(
    fake: Callable[[Handler], Awaitable[str]], handler: Handler
) -> None:
    url = await fake(handler)
    spec = ServerSpec(name="g", transport="streamable-http", url=url, timeouts=Timeouts(connect=5))
    async with egress_session(UPSTREAMS) as http:
        with pytest.raises(UpstreamProtocolError) as caught:
            await connect(spec, IDENTITY, on_unsolicited=Inbox(), http=http)
    assert len(caught.value.data["sha256"]) == 64
