"""A real `giru run` trusting the real test IdP (tests/idp.py) in direct mode, and MCP requests
over raw HTTP with a bearer token (2026-07-28 era: no session to set up)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import httpx
import orjson

from tests.idp import IdentityProviderPeer
from tests.integration.gateway import CLIENT, RunningGiru, python_stdio_server, run_giru
from tests.peers import LOOPBACK
from tests.tokens import Signer

__all__ = [
    "MODERN",
    "DirectGiru",
    "StaticIssuer",
    "direct_giru",
    "direct_provider",
    "mcp",
    "static_issuer",
    "subscription",
]

MODERN: Final = "2026-07-28"
_META: Final = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}


def subscription(name: str, subject: str, server: str = "clinic") -> str:
    """A Subscription of `subject` (`{user: EMAIL}` or `{group: NAME}`) to every tool of
    `server`."""
    return f"""
apiVersion: giru.ai/v1alpha1
kind: Subscription
metadata: {{name: {name}}}
spec:
  subject: {subject}
  server: {server}
  scopeType: all
"""


def direct_provider(issuer: str) -> str:
    """The IdentityProvider `corp`: people's tokens from `issuer`, verified directly, scope
    `mcp` required."""
    return f"""
apiVersion: giru.ai/v1alpha1
kind: IdentityProvider
metadata: {{name: corp}}
spec:
  issuer: {issuer}
  mode: direct
  requiredScopes: [mcp]
"""


def _manifests(idp: IdentityProviderPeer, extra: str) -> str:
    provider = direct_provider(idp.issuer)
    vs = """
apiVersion: giru.ai/v1alpha1
kind: VirtualServer
metadata: {name: ward}
spec: {servers: [clinic], auth: oauth}
---
apiVersion: giru.ai/v1alpha1
kind: VirtualServer
metadata: {name: keysonly}
spec: {servers: [clinic], auth: apiKey}
"""
    nurses = subscription("nurses-clinic", "{group: nurses}")
    documents = [python_stdio_server("clinic"), CLIENT, provider, vs, nurses, extra]
    return "\n---\n".join(d.strip() for d in documents if d.strip())


@dataclass
class StaticIssuer:
    """An issuer whose signing keys the test holds: it serves only its discovery document and
    its JWKS (so tests can sign expired, not-yet-valid or otherwise odd tokens)."""

    issuer: str
    signer: Signer
    jwks_fetches: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def manifest(self, name: str = "lab") -> str:
        return f"""
apiVersion: giru.ai/v1alpha1
kind: IdentityProvider
metadata: {{name: {name}}}
spec:
  issuer: {self.issuer}
  mode: direct
"""

    def handle(self, path: str) -> dict[str, Any] | None:
        if path == "/.well-known/openid-configuration":
            return {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks"}
        if path == "/jwks":
            with self._lock:
                self.jwks_fetches += 1
            return self.signer.jwks()
        return None


@contextmanager
def static_issuer() -> Iterator[StaticIssuer]:
    server = ThreadingHTTPServer((LOOPBACK, 0), BaseHTTPRequestHandler)
    issuer = StaticIssuer(f"http://{LOOPBACK}:{server.server_address[1]}", Signer(""))
    issuer.signer.issuer = issuer.issuer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            document = issuer.handle(self.path)
            body = json.dumps(document).encode()
            self.send_response(200 if document is not None else 404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass(frozen=True)
class DirectGiru:
    giru: RunningGiru
    idp: IdentityProviderPeer

    def resource(self, path: str = "/mcp") -> str:
        return self.giru.url(path)

    def token(self, login: str = "alice", path: str = "/mcp", **options: Any) -> str:
        """An access token the IdP issues `login` for the endpoint at `path`."""
        return self.idp.tokens(login, resource=self.resource(path), **options).access_token


@contextmanager
def direct_giru(idp: IdentityProviderPeer, workdir: Path, extra: str = "") -> Iterator[DirectGiru]:
    """Giru with the IdP in direct mode; `/mcp/ward` takes OAuth only, `/mcp/keysonly` API keys
    only, `/mcp` both; group `nurses` may use every tool of the `clinic` server. The IdP mints
    tokens for Giru's `/mcp`, `/mcp/ward`, `/mcp/keysonly` and `/sse`."""
    with run_giru(_manifests(idp, extra), workdir) as giru:
        for path in ("/mcp", "/mcp/ward", "/mcp/keysonly", "/sse"):
            idp.add_resource(giru.url(path), scope="mcp")
        yield DirectGiru(giru, idp)


def mcp(
    giru: RunningGiru,
    method: str,
    params: dict[str, Any] | None = None,
    *,
    token: str | None,
    path: str = "/mcp",
    query: str = "",
) -> httpx.Response:
    """One 2026-07-28 request with `Authorization: Bearer <token>` (none when `token` is None)."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": method,
        "params": {**(params or {}), "_meta": _META},
    }
    headers = {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": method,
    }
    name = (params or {}).get("name")
    if isinstance(name, str):
        headers["mcp-name"] = name
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return httpx.post(giru.url(path) + query, content=orjson.dumps(body), headers=headers)
