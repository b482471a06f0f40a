"""The guarded HTTP/1.1 protocol on uvicorn's httptools protocol, fed bytes in process: the
header lines it counts reach the app as uvicorn hands them (names lowercased, Expect:
100-continue honoured), and the limits answer 431 (BAD-INPUT H8, H9)."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from giru.proxy.protocol import guarded_protocol


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class _App:
    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = asyncio.get_running_loop().create_future()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.headers = list(scope["headers"])
        message: MutableMapping[str, Any] = await receive()
        self.body.set_result(message.get("body", b""))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def _connected(app: _App, max_headers: int = 100) -> tuple[Any, _Transport]:
    config = Config(app, lifespan="off", log_config=None)
    protocol_class = guarded_protocol(5.0, max_headers=max_headers)
    protocol = protocol_class(config, ServerState(), {}, asyncio.get_running_loop())
    transport = _Transport()
    protocol.connection_made(transport)
    return protocol, transport


async def test_headers_reach_the_app_lowercased_and_expect_100_continue_is_answered() -> None:
    app = _App()
    protocol, transport = await _connected(app)
    head = (
        b"POST /mcp HTTP/1.1\r\nHost: a\r\nX-Mixed-Case: Value\r\n"
        b"Expect: 100-Continue\r\nContent-Length: 2\r\n\r\n"
    )
    protocol.data_received(head)
    await asyncio.sleep(0)  # the app task starts and waits for the body
    assert b"HTTP/1.1 100 Continue" in transport.written
    protocol.data_received(b"ok")
    assert await asyncio.wait_for(app.body, 5) == b"ok"
    assert app.headers == [
        (b"host", b"a"),
        (b"x-mixed-case", b"Value"),
        (b"expect", b"100-Continue"),
        (b"content-length", b"2"),
    ]
    protocol.connection_lost(None)


@pytest.mark.parametrize(("lines", "refused"), [(4, False), (5, True)])
async def test_more_header_lines_than_the_limit_are_answered_431(lines: int, refused: bool) -> None:
    app = _App()
    protocol, transport = await _connected(app, max_headers=4)
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(lines - 2))
    protocol.data_received(
        b"POST /mcp HTTP/1.1\r\nHost: a\r\n" + fields + b"Content-Length: 0\r\n\r\n"
    )
    await asyncio.sleep(0)
    assert transport.written.startswith(b"HTTP/1.1 431 ") is refused
    assert transport.closed is refused
    protocol.connection_lost(None)
