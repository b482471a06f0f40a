"""A stateless legacy Streamable HTTP MCP server protected by OAuth (MCP authorization spec).

`python protected_http.py PORT LEDGER ISSUER` serves POST /mcp on 127.0.0.1:PORT. A request
without `Authorization: Bearer …` is answered 401 with a `WWW-Authenticate` challenge naming its
RFC 9728 Protected Resource Metadata (served at /.well-known/oauth-protected-resource/mcp),
whose authorization server is ISSUER. Each request's headers (and the tool a `tools/call` names)
are appended to LEDGER as one JSON line first. Tool `whoami` answers the `sub` and `aud` of
the access token it was sent (read, not verified: this server only shows whose token arrived).
Tool `refuse` makes it answer 401 to the token it was sent from then on (revoked behind Giru's
back); tool `admin` answers 403 `insufficient_scope` asking for scope `admin` (step-up).
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

from aiohttp import web

_JSON = "application/json"
_TOOLS = ("whoami", "refuse", "admin")


def _reply(request_id: Any, result: dict[str, Any]) -> web.Response:
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result})
    return web.Response(text=body, content_type=_JSON)


def _record(ledger: str, request: web.Request, message: dict[str, Any]) -> None:
    """Append one line (a tiny synchronous write: this is a test server)."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    params = message.get("params") or {}
    tool = params.get("name") if message.get("method") == "tools/call" else None
    with open(ledger, "a", encoding="utf-8") as sink:
        sink.write(json.dumps({"path": request.path, "headers": headers, "tool": tool}) + "\n")


async def _message(request: web.Request) -> dict[str, Any]:
    if request.method != "POST":
        return {}
    try:
        message = await request.json()
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}


def _claims(authorization: str) -> dict[str, Any]:
    token = authorization.removeprefix("Bearer ")
    try:
        payload = token.split(".")[1]
        return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
    except (IndexError, ValueError):
        return {}


def _app(port: int, ledger: str, issuer: str) -> web.Application:
    resource = f"http://127.0.0.1:{port}/mcp"
    metadata_url = f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp"
    refused: set[str] = set()

    async def metadata(request: web.Request) -> web.Response:
        document = {
            "resource": resource,
            "authorization_servers": [issuer],
            "scopes_supported": ["openid", "mcp"],
        }
        return web.json_response(document)

    async def mcp(request: web.Request) -> web.StreamResponse:
        message = await _message(request)
        _record(ledger, request, message)
        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith("Bearer ") or authorization in refused:
            challenge = f'Bearer resource_metadata="{metadata_url}", scope="openid mcp"'
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        if request.method != "POST":
            return web.Response(status=405)
        method, request_id = message.get("method"), message.get("id")
        params = message.get("params") or {}
        if request_id is None:
            return web.Response(status=202)
        if method == "initialize":
            info = {"name": "protected-http", "version": "0"}
            result: dict[str, Any] = {
                "protocolVersion": params.get("protocolVersion"),
                "capabilities": {"tools": {}},
                "serverInfo": info,
            }
            return _reply(request_id, result)
        if method == "tools/list":
            return _reply(
                request_id,
                {"tools": [{"name": n, "inputSchema": {"type": "object"}} for n in _TOOLS]},
            )
        if method == "tools/call" and params.get("name") == "refuse":
            refused.add(authorization)
            return _reply(request_id, {"content": [{"type": "text", "text": "refused"}]})
        if method == "tools/call" and params.get("name") == "admin":
            challenge = (
                f'Bearer error="insufficient_scope", scope="admin", '
                f'resource_metadata="{metadata_url}"'
            )
            return web.Response(status=403, headers={"WWW-Authenticate": challenge})
        if method == "tools/call":
            claims = _claims(authorization)
            text = f"sub={claims.get('sub', '-')} aud={claims.get('aud', '-')}"
            return _reply(
                request_id, {"content": [{"type": "text", "text": text}], "isError": False}
            )
        if method == "ping":
            return _reply(request_id, {})
        error = {"code": -32601, "message": "Method not found"}
        return web.json_response({"jsonrpc": "2.0", "id": request_id, "error": error})

    app = web.Application()
    app.router.add_get("/.well-known/oauth-protected-resource/mcp", metadata)
    app.router.add_get("/.well-known/oauth-protected-resource", metadata)
    app.router.add_route("*", "/mcp", mcp)
    return app


def main() -> None:
    port = int(sys.argv[1])
    app = _app(port, sys.argv[2], sys.argv[3])
    web.run_app(app, host="127.0.0.1", port=port, print=None, handle_signals=True)


if __name__ == "__main__":
    main()
