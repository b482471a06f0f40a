"""A stateless legacy Streamable HTTP MCP server that records the headers of every request.

`python headers_http.py PORT LEDGER` serves POST /mcp on 127.0.0.1:PORT. Each request's headers
(names lowercased) are appended to LEDGER as one JSON line before anything else, so a test can
prove what reached the upstream (and what did not: the client's own key). Tools: `whoami`
(answers the `Authorization` header it was sent, or `-`), `echo` (answers `text`), `peer`
(answers the common name of the TLS client certificate, or `-`), `meta` (answers the request's
`params._meta` as JSON), `refuse` (from now on answers 401 to the `Authorization` it was sent;
with `{"every": true}` to every one: a token revoked behind Giru's back).

It is also a tiny OAuth token endpoint, `POST /token` (recorded in the ledger like the rest):
`client_credentials` for client `giru` with secret `cc-secret` (Basic or form), answering
`cc-<n>` tokens that live an hour. With HEADERS_TLS_CERT / HEADERS_TLS_KEY / HEADERS_TLS_CA set
it serves HTTPS and requires a client certificate signed by that CA.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
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
    refused: set[str] = set()

    async def handle(request: web.Request) -> web.StreamResponse:
        _record(ledger, request)
        if request.method != "POST":
            return web.Response(status=405)
        if _refuses(refused, request.headers.get("Authorization", "-")):
            challenge = 'Bearer error="invalid_token"'
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
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
            names = ("whoami", "echo", "peer", "meta", "refuse")
            tools = [{"name": n, "inputSchema": {"type": "object"}} for n in names]
            return _reply(request_id, {"tools": tools})
        if method == "tools/call":
            return _text(request_id, _tool(request, params, refused))
        if method == "ping":
            return _reply(request_id, {})
        error = {"code": -32601, "message": "Method not found"}
        return web.json_response({"jsonrpc": "2.0", "id": request_id, "error": error})

    return handle


def _tool(request: web.Request, params: dict[str, Any], refused: set[str]) -> str:
    name, arguments = params.get("name"), params.get("arguments") or {}
    authorization = request.headers.get("Authorization", "-")
    if name == "peer":
        return _peer_name(request)
    if name == "whoami":
        return authorization
    if name == "meta":
        return json.dumps(params.get("_meta") or {})
    if name == "refuse":
        refused.add("*" if arguments.get("every") else authorization)
        return "refused"
    return str(arguments.get("text", ""))


def _refuses(refused: set[str], authorization: str) -> bool:
    return authorization in refused or ("*" in refused and authorization != "-")


def _peer_name(request: web.Request) -> str:
    transport = request.transport
    peer = transport.get_extra_info("peercert") if transport is not None else None
    for entry in (peer or {}).get("subject", ()):
        for name, value in entry:
            if name == "commonName":
                return str(value)
    return "-"


def _token_endpoint(ledger: str) -> Any:
    issued = [0]

    async def token(request: web.Request) -> web.Response:
        _record(ledger, request)
        form = await request.post()
        basic = request.headers.get("Authorization", "")
        pair = base64.b64decode(basic[6:]).decode() if basic.startswith("Basic ") else ""
        if pair:
            client, _, secret = pair.partition(":")
        else:
            client, secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
        if (client, secret) != ("giru", "cc-secret"):
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        issued[0] += 1
        reply = {"access_token": f"cc-{issued[0]}", "token_type": "Bearer", "expires_in": 3600}
        return web.json_response(reply)

    return token


def _tls() -> ssl.SSLContext | None:
    cert, key, ca = (os.environ.get(f"HEADERS_TLS_{n}") for n in ("CERT", "KEY", "CA"))
    if not (cert and key and ca):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca)
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def main() -> None:
    app = web.Application()
    app.router.add_route("*", "/mcp", _handler(sys.argv[2]))
    app.router.add_post("/token", _token_endpoint(sys.argv[2]))
    web.run_app(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        print=None,
        handle_signals=True,
        ssl_context=_tls(),
    )


if __name__ == "__main__":
    main()
