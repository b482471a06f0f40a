"""A stateless legacy Streamable HTTP MCP server that records the headers of every request.

`python headers_http.py PORT LEDGER` serves POST /mcp on 127.0.0.1:PORT. Each request's headers
(names lowercased) are appended to LEDGER as one JSON line before anything else, so a test can
prove what reached the upstream (and what did not: the client's own key). Tools: `whoami`
(answers the `Authorization` header it was sent, or `-`), `echo` (answers `text`).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from aiohttp import web

_JSON = "application/json"


def _reply(request_id: Any, result: dict[str, Any]) -> web.Response:
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result})
    return web.Response(text=body, content_type=_JSON)


def _text(request_id: Any, text: str) -> web.Response:
    return _reply(request_id, {"content": [{"type": "text", "text": text}], "isError": False})


def _record(ledger: str, request: web.Request) -> None:
    """Append one line (a tiny synchronous write: this is a test server)."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    with open(ledger, "a", encoding="utf-8") as sink:
        sink.write(json.dumps({"path": request.path, "headers": headers}) + "\n")


def _handler(ledger: str) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        _record(ledger, request)
        if request.method != "POST":
            return web.Response(status=405)
        message = await request.json()
        method, request_id = message.get("method"), message.get("id")
        params = message.get("params") or {}
        if request_id is None:
            return web.Response(status=202)
        if method == "initialize":
            info = {"name": "headers-http", "version": "0"}
            version = params.get("protocolVersion")
            return _reply(
                request_id,
                {"protocolVersion": version, "capabilities": {"tools": {}}, "serverInfo": info},
            )
        if method == "tools/list":
            tools = [{"name": n, "inputSchema": {"type": "object"}} for n in ("whoami", "echo")]
            return _reply(request_id, {"tools": tools})
        if method == "tools/call" and params.get("name") == "whoami":
            return _text(request_id, request.headers.get("Authorization", "-"))
        if method == "tools/call":
            return _text(request_id, str((params.get("arguments") or {}).get("text", "")))
        if method == "ping":
            return _reply(request_id, {})
        error = {"code": -32601, "message": "Method not found"}
        return web.json_response({"jsonrpc": "2.0", "id": request_id, "error": error})

    return handle


def main() -> None:
    app = web.Application()
    app.router.add_route("*", "/mcp", _handler(sys.argv[2]))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, handle_signals=True)


if __name__ == "__main__":
    main()
