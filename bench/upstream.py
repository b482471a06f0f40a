"""A deliberately trivial, fast MCP server over Streamable HTTP: the benchmark's upstream.

Raw asyncio Protocol + uvloop + httptools + orjson, stateless, JSON answers only, so it is never
the bottleneck (about 80k requests/s on one core). It answers `initialize`, `ping`, `tools/list`
(`--tools N` tools: `echo`, `tool-01`, …) and `tools/call` (echoes `arguments.text`);
notifications and client responses get 202, GET and DELETE get 405.

Run: `python -m bench.upstream --port 9000 [--tools 20] [--cpu 0]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any, Final, cast

import httptools
import orjson
import uvloop

__all__ = ["build_tools", "main"]

_VERSIONS: Final = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
_OK_HEAD: Final = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
_ACCEPTED: Final = b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"
_NOT_ALLOWED: Final = b"HTTP/1.1 405 Method Not Allowed\r\nallow: POST\r\ncontent-length: 0\r\n\r\n"
_BAD: Final = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


def build_tools(count: int) -> list[dict[str, Any]]:
    """`count` tools with small but realistic schemas; the first is `echo`."""
    schema = {
        "type": "object",
        "properties": {"text": {"type": "string", "description": "Text to echo back"}},
        "required": ["text"],
    }
    names = ["echo", *(f"tool-{i:02d}" for i in range(1, count))]
    return [
        {
            "name": name,
            "description": f"Benchmark tool {name}: echoes its input",
            "inputSchema": schema,
        }
        for name in names[:count]
    ]


class _Answers:
    """Pre-serialized answers: the per-request work is parse, pick, dump."""

    def __init__(self, tools: int) -> None:
        self.tools_result = {"tools": build_tools(tools)}
        self.server_info = {"name": "bench-upstream", "version": "1.0.0"}

    def answer(self, message: dict[str, Any]) -> dict[str, Any] | None:
        method = message.get("method")
        if method is None or "id" not in message:
            return None  # a notification or a client response
        if method == "tools/call":
            args = (message.get("params") or {}).get("arguments") or {}
            text = str(args.get("text", "ok"))
            result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": False}
        elif method == "tools/list":
            result = self.tools_result
        elif method == "initialize":
            asked = (message.get("params") or {}).get("protocolVersion")
            result = {
                "protocolVersion": asked if asked in _VERSIONS else _VERSIONS[-1],
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": self.server_info,
            }
        elif method == "ping":
            result = {}
        else:
            error = {"code": -32601, "message": f"Method not found: {method}"}
            return {"jsonrpc": "2.0", "id": message["id"], "error": error}
        return {"jsonrpc": "2.0", "id": message["id"], "result": result}


class _Http(asyncio.Protocol):
    def __init__(self, answers: _Answers) -> None:
        self._answers = answers
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._write(_BAD)
            if self._transport is not None:
                self._transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._body = []

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._parser.get_method() != b"POST":
            self._write(_NOT_ALLOWED)
            return
        try:
            message = orjson.loads(b"".join(self._body))
        except orjson.JSONDecodeError:
            self._write(_BAD)
            return
        response = self._answers.answer(message) if isinstance(message, dict) else None
        if response is None:
            self._write(_ACCEPTED)
            return
        payload = orjson.dumps(response)
        self._write(b"%s%d\r\n\r\n%s" % (_OK_HEAD, len(payload), payload))

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)


async def _serve(host: str, port: int, tools: int) -> None:
    answers = _Answers(tools)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Http(answers), host, port, backlog=4096)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tools", type=int, default=1)
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to one core")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    uvloop.run(_serve(args.host, args.port, args.tools))


if __name__ == "__main__":
    main()
