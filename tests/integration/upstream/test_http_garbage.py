"""HTTP upstreams that answer garbage, a redirect or too much: each is an UpstreamProtocolError."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from giru.egress import UPSTREAMS
from giru.egress.lean import LeanClient
from giru.errors import UpstreamProtocolError
from giru.upstream import ServerSpec, Timeouts, connect
from giru.upstream._wire import MAX_MESSAGE_BYTES
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
    async with LeanClient(UPSTREAMS) as http:
        with pytest.raises(UpstreamProtocolError) as caught:
            await connect(spec, IDENTITY, on_unsolicited=Inbox(), http=http)
    assert len(caught.value.data["sha256"]) == 64


def _initialized_then(answer: Handler) -> Handler:
    """Answers `initialize` (and 405 to GET); every later POST gets `answer`."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return web.Response(status=405)
        message = await request.json()
        if message.get("method") == "initialize":
            result = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {}}
            return web.json_response({"jsonrpc": "2.0", "id": message["id"], "result": result})
        if "id" not in message:
            return web.Response(status=202)
        return await answer(request)

    return handle


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_answering_a_call_is_refused_and_never_followed(
    fake: Callable[[Handler], Awaitable[str]], status: int
) -> None:
    landed: list[str] = []

    async def landing(request: web.Request) -> web.StreamResponse:
        landed.append(request.method)
        return web.json_response({"jsonrpc": "2.0", "id": 2, "result": {}})

    elsewhere = await fake(landing)

    async def redirect(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": elsewhere})

    caught = await _call_refused(await fake(_initialized_then(redirect)))
    assert caught.message == (
        f"upstream answered HTTP {status} (a redirect); Giru does not follow upstream redirects"
    )
    assert caught.data == {
        "location": elsewhere,
        "reason": "upstream_redirect",
        "status": status,
    }
    assert landed == []


async def test_a_body_declared_over_the_size_limit_is_refused_unread(
    fake: Callable[[Handler], Awaitable[str]],
) -> None:
    async def declared(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = MAX_MESSAGE_BYTES + 1
        await response.prepare(request)
        await response.write(b"{")
        return response

    caught = await _call_refused(await fake(_initialized_then(declared)))
    assert caught.message == "upstream body exceeds the size limit"


async def _call_refused(url: str) -> UpstreamProtocolError:
    """The protocol error a tools/call through the Streamable HTTP connector raises at `url`."""
    spec = ServerSpec(name="r", transport="streamable-http", url=url, timeouts=Timeouts(connect=5))
    async with LeanClient(UPSTREAMS) as http:
        session = await connect(spec, IDENTITY, on_unsolicited=Inbox(), http=http)
        try:
            with pytest.raises(UpstreamProtocolError) as caught:
                await session.request("tools/call", {"name": "echo", "arguments": {}})
        finally:
            await session.aclose()
    return caught.value
