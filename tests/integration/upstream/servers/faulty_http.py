"""A stateless legacy Streamable HTTP MCP server that fails on demand (aiohttp, no SDK).

`python faulty_http.py FD LEDGER_PATH` serves POST /mcp on the inherited listening socket FD, so
a test can kill it and start another process on the same port. Every `tools/call` is appended to
LEDGER_PATH before anything else (one JSON line), so a test can wait until a call has arrived.

Tools: echo (answers `text`), hang (never answers), html (200 text/html), not_json (200
application/json that is not JSON), wrong_id (a response for an id nobody asked for).
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from typing import Any

from aiohttp import web

_TOOLS = ("echo", "hang", "html", "not_json", "wrong_id")
_JSON = "application/json"


def _reply(request_id: Any, result: dict[str, Any]) -> web.Response:
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result})
    return web.Response(text=body, content_type=_JSON)


async def _call(request_id: Any, name: str, arguments: dict[str, Any]) -> web.Response:
    if name == "hang":
        await asyncio.Event().wait()
    if name == "html":
        page = "<html><body>502 Bad Gateway</body></html>"
        return web.Response(text=page, content_type="text/html")
    if name == "not_json":
        return web.Response(text="this is not json", content_type=_JSON)
    if name == "wrong_id":
        return _reply(987_654, {"content": [], "isError": False})
    text = str(arguments.get("text", ""))
    return _reply(request_id, {"content": [{"type": "text", "text": text}], "isError": False})


def _record(ledger: str, request_id: Any, name: Any) -> None:
    """Append one line to the ledger (a tiny synchronous write: this is a test server)."""
    with open(ledger, "a", encoding="utf-8") as sink:
        sink.write(json.dumps({"id": request_id, "name": name}) + "\n")


def _handler(ledger: str) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return web.Response(status=405)
        message = await request.json()
        method, request_id = message.get("method"), message.get("id")
        params = message.get("params") or {}
        if request_id is None:
            return web.Response(status=202)
        if method == "initialize":
            info = {"name": "faulty-http", "version": "0"}
            version = params.get("protocolVersion")
            return _reply(
                request_id,
                {"protocolVersion": version, "capabilities": {"tools": {}}, "serverInfo": info},
            )
        if method == "tools/list":
            tools = [{"name": n, "inputSchema": {"type": "object"}} for n in _TOOLS]
            return _reply(request_id, {"tools": tools})
        if method == "tools/call":
            _record(ledger, request_id, params.get("name"))
            return await _call(request_id, params["name"], params.get("arguments") or {})
        if method == "ping":
            return _reply(request_id, {})
        error = {"code": -32601, "message": "Method not found"}
        return web.json_response({"jsonrpc": "2.0", "id": request_id, "error": error})

    return handle


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    app = web.Application()
    app.router.add_route("*", "/mcp", _handler(sys.argv[2]))
    web.run_app(app, sock=sock, print=None, handle_signals=True)


if __name__ == "__main__":
    main()
