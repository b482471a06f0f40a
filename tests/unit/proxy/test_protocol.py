"""The guarded HTTP/1.1 protocol on uvicorn's httptools protocol, fed bytes in process: the
header lines it counts reach the app as uvicorn hands them (names lowercased, Expect:
100-continue honoured), the limits answer 431 (BAD-INPUT H8, H9), and an answer's head leaves
with its body in one write unless the body is not ready (a stream's head is not held back)."""

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
        self.writes: list[bytes] = []
        self.wrote = asyncio.Event()
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)
        self.writes.append(bytes(data))
        self.wrote.set()

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


async def _connected(app: Any, max_headers: int = 100) -> tuple[Any, _Transport]:
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


class _Answers:
    """Answers 200 with `body` at once, or, streaming, its head and then one chunk per event put
    in `events` (None ends the stream)."""

    def __init__(self, body: bytes = b'{"ok":true}', *, stream: bool = False) -> None:
        self.body = body
        self.stream = stream
        self.events: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.done: asyncio.Queue[None] = asyncio.Queue()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await receive()
        kind = b"text/event-stream" if self.stream else b"application/json"
        headers = [(b"content-type", kind)]
        if not self.stream:
            headers.append((b"content-length", b"%d" % len(self.body)))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if self.stream:
            while (event := await self.events.get()) is not None:
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "http.response.body", "body": self.body})
        self.done.put_nowait(None)


_GET = b"GET /mcp HTTP/1.1\r\nHost: a\r\n\r\n"


async def test_an_answer_sent_at_once_leaves_in_one_write() -> None:
    app = _Answers()
    protocol, transport = await _connected(app)
    protocol.data_received(_GET + _GET)  # two requests: each answer is one write, in order
    await asyncio.wait_for(app.done.get(), 5)
    await asyncio.wait_for(app.done.get(), 5)
    assert len(transport.writes) == 2
    for write in transport.writes:
        assert write.startswith(b"HTTP/1.1 200 OK\r\n")
        assert write.endswith(b"\r\n\r\n" + app.body)
    assert not transport.closed
    protocol.connection_lost(None)


async def test_a_stream_has_its_head_on_the_wire_before_its_first_event() -> None:
    app = _Answers(stream=True)
    protocol, transport = await _connected(app)
    protocol.data_received(_GET)
    await asyncio.wait_for(transport.wrote.wait(), 5)
    assert transport.written.startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.written.endswith(b"transfer-encoding: chunked\r\n\r\n")
    transport.wrote.clear()
    await app.events.put(b"data: 1\n\n")
    await asyncio.wait_for(transport.wrote.wait(), 5)
    assert transport.writes[-1] == b"9\r\ndata: 1\n\n\r\n"  # each event flushed as it comes
    await app.events.put(None)
    await asyncio.wait_for(app.done.get(), 5)
    assert transport.written.endswith(b"0\r\n\r\n")
    protocol.connection_lost(None)


async def test_an_http_1_0_answer_is_written_whole_before_the_connection_closes() -> None:
    app = _Answers()
    protocol, transport = await _connected(app)
    protocol.data_received(b"GET /mcp HTTP/1.0\r\n\r\n")
    await asyncio.wait_for(app.done.get(), 5)
    assert transport.closed
    assert b"connection: close\r\n" in transport.written
    assert transport.written.endswith(b"\r\n\r\n" + app.body)
    protocol.connection_lost(None)


async def test_pipelined_head_requests_get_every_head_in_order() -> None:
    # A HEAD answer writes no body: its head is still held when the next answer's head comes.
    app = _Answers()
    protocol, transport = await _connected(app)
    protocol.data_received(b"HEAD /mcp HTTP/1.1\r\nHost: a\r\n\r\n" * 2)
    while transport.written.count(b"HTTP/1.1 200 OK\r\n") < 2:
        transport.wrote.clear()
        await asyncio.wait_for(transport.wrote.wait(), 5)
    assert app.done.qsize() == 2
    assert transport.written.endswith(b"content-length: %d\r\n\r\n" % len(app.body))
    protocol.connection_lost(None)
