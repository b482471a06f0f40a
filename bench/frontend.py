"""`python -m bench.frontend [--ref REV] [--rounds R] [--calls N]`: the CPU of Giru's HTTP front
end per request, commit REV's protocol class (default: main) beside the work tree's, paired in
this one process (issue 15).

Each side is a listening socket on loopback served by one protocol class the way uvicorn serves
it (`uvicorn.Config(http=...)`, its `ServerState` with the date header, Giru's settings: no
server header, no access log, keep-alive 30 s), all answering through the same trivial ASGI app:
the request body read, a small JSON body answered with content-type and content-length. The
client, in this thread too, holds 16 keep-alive connections and POSTs a small JSON-RPC body to
`/mcp` with the ten headers an MCP client sends; its cost is the same for every side. Sides:
REV's `guarded_protocol` (Giru today), the work tree's (twice: the A/A pair), uvicorn's own
`HttpToolsProtocol` (what the header-limit overrides add), and a bare `asyncio.Protocol` +
httptools server calling the same app (the floor: no limits, no flow control, no pipelining),
twice: writing an answer's head and body in two writes as uvicorn does, and in one.
The clock is this thread's CPU time; bench.pairs gives the median per-round paired difference
with a bootstrap 95 % interval. Printed and written as JSON, never asserted. `--profile SIDE`
instead prints cProfile's calls and own time per request of that side's server and client.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import os
import pstats
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import formatdate
from pathlib import Path
from typing import Any, Final

import httptools
import orjson
import uvicorn
import uvloop
from uvicorn.server import ServerState

from bench.fleet import GATEWAY_CPUS
from bench.keepalive import keepalive_pool
from bench.pairs import Side, alternate, describe
from bench.refcode import ref_modules
from giru.proxy import protocol as work_protocol

__all__ = ["main"]

CONCURRENCY: Final = 16
_BODY: Final = orjson.dumps(
    {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "hello"}},
    }
)
_ANSWER: Final = orjson.dumps(
    {"jsonrpc": "2.0", "id": 7, "result": {"content": [{"type": "text", "text": "hello"}]}}
)
_HEADERS: Final = (
    b"host: 127.0.0.1\r\n"
    b"user-agent: mcp-client/1.0\r\n"
    b"accept: application/json, text/event-stream\r\n"
    b"accept-encoding: gzip, deflate\r\n"
    b"connection: keep-alive\r\n"
    b"content-type: application/json\r\n"
    b"authorization: Bearer giru_0123456789abcdef0123456789abcdef\r\n"
    b"mcp-protocol-version: 2025-06-18\r\n"
    b"mcp-session-id: 5f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5\r\n"
)
REQUEST: Final = (
    b"POST /mcp HTTP/1.1\r\n" + _HEADERS + b"content-length: %d\r\n\r\n" % len(_BODY) + _BODY
)

Block = Callable[[int], Awaitable[None]]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Read the whole body, answer a small JSON body (what every side serves)."""
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(_ANSWER)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _ANSWER})


class _Bare(asyncio.Protocol):
    """The floor: httptools straight into the ASGI app, one request at a time per connection."""

    coalesce = False

    def __init__(self) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._headers: list[tuple[bytes, bytes]] = []
        self._body = b""
        self._head = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_message_begin(self) -> None:
        self._headers = []
        self._body = b""

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": self._headers}
        body = self._body

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        asyncio.get_running_loop().create_task(app(scope, receive, self._send))

    async def _send(self, message: dict[str, Any]) -> None:
        assert self.transport is not None
        if message["type"] == "http.response.start":
            head = [b"HTTP/1.1 200 OK\r\n"]
            head.extend(b"%s: %s\r\n" % pair for pair in message["headers"])
            self._head = b"".join(head) + b"\r\n"
            if not self.coalesce:
                self.transport.write(self._head)
        elif self.coalesce:
            self.transport.write(self._head + message["body"])
        else:
            self.transport.write(message["body"])


class _BareOneWrite(_Bare):
    """The floor again, its answer's head written with its body: one `write` per answer."""

    coalesce = True


def _uvicorn_factory(protocol: type[asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
    config = uvicorn.Config(
        app,
        http=protocol,  # type: ignore[arg-type]
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=30,
    )
    config.load()
    state = ServerState()
    date = formatdate(usegmt=True).encode()
    state.default_headers = [(b"date", date), *config.encoded_headers]
    return lambda: protocol(config=config, server_state=state, app_state={})  # type: ignore[call-arg]


@contextlib.asynccontextmanager
async def _side(factory: Callable[[], asyncio.Protocol]) -> AsyncIterator[Block]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with keepalive_pool(port, CONCURRENCY, REQUEST) as block:
            yield block
    finally:
        server.close()


def _guarded(module: Any) -> Callable[[], asyncio.Protocol]:
    return _uvicorn_factory(module.guarded_protocol(5.0, max_headers=100, max_header_bytes=32768))


def _profiled(name: str, stats: pstats.Stats, calls: int) -> None:
    """The functions of one side's profile by own time, per request."""
    rows = stats.stats  # type: ignore[attr-defined]  # pstats keeps them undocumented
    total = sum(row[1] for row in rows.values())
    print(f"{name}: {total / calls:.1f} Python function calls per request")
    for (file, line, function), row in sorted(rows.items(), key=lambda kv: -kv[1][2])[:25]:
        where = f"{Path(file).name}:{line} {function}"
        print(f"  {row[1] / calls:6.2f} calls {row[2] / calls * 1e6:7.2f} µs own  {where}")


async def _run(ref: str, rounds: int, calls: int, profile: str | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="giru-bench-frontend-") as directory:
        (ref_protocol,) = ref_modules(ref, Path(directory), ("proxy.protocol",))
        factories = {
            ref: _guarded(ref_protocol),
            "work tree": _guarded(work_protocol),
            "work tree again": _guarded(work_protocol),
            "uvicorn": _uvicorn_factory(uvicorn.protocols.http.httptools_impl.HttpToolsProtocol),
            "bare": _Bare,
            "bare, one write": _BareOneWrite,
        }
        async with contextlib.AsyncExitStack() as stack:
            blocks = {n: await stack.enter_async_context(_side(f)) for n, f in factories.items()}
            sides = [Side(name, block, time.thread_time_ns) for name, block in blocks.items()]
            for side in sides:
                await side.block(calls)  # warm up
            if profile is not None:
                profiler = cProfile.Profile()
                profiler.enable()
                await blocks[profile](calls)
                profiler.disable()
                _profiled(profile, pstats.Stats(profiler), calls)
                return {}
            gc.set_threshold(20_000, 50, 1_000)  # as the gateway runs (giru.app)
            gc.freeze()
            result = await alternate(
                sides,
                calls=calls,
                rounds=rounds,
                versus=[
                    ("work tree again", "work tree"),
                    ("uvicorn", ref),
                    ("bare", ref),
                    ("bare, one write", "bare"),
                ],
            )
    print(describe(result), flush=True)
    return {"ref": ref, "result": result}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.frontend", description=__doc__)
    parser.add_argument("--ref", default="main")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--calls", type=int, default=2000, help="requests per side per round")
    parser.add_argument("--out", type=Path, help="also write the result as JSON here")
    parser.add_argument("--profile", metavar="SIDE", help="profile this side instead")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, GATEWAY_CPUS)
    result = uvloop.run(_run(args.ref, args.rounds, args.calls, args.profile))
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
