"""What the connection tests share: a Giru whose people sign in at the real test IdP (direct
mode), an MCP server protected by the same IdP as its authorization server
(`servers/protected_http.py`), and a headless "browser" that follows redirects and posts the
IdP's sign-in form."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.idp import CONFIDENTIAL_CLIENT, IdentityProviderPeer, start_identity_provider
from tests.integration.credentials.calls import (
    ADMIN_HEADERS,
    LEGACY,
    apply,
    put_secret,
    read_answer,
)
from tests.integration.gateway import CLIENT, SERVERS, RunningGiru, run_giru, wait_until
from tests.integration.oauth import direct_provider, mcp, subscription
from tests.peers import free_port

__all__ = [
    "ConnectedGiru",
    "ProtectedUpstream",
    "audit_records",
    "connected_giru",
    "connection_manifests",
    "legacy_call",
    "oauth_server",
    "protected_upstream",
]

NO_POLICY = {"GIRU_POLICY__ENABLED": "false"}


@dataclass
class ProtectedUpstream:
    url: str
    ledger: Path
    process: subprocess.Popen[bytes]

    def seen(self) -> list[dict[str, str]]:
        return [line["headers"] for line in self._lines()]

    def authorizations(self, tool: str) -> list[str]:
        """The `Authorization` of every `tools/call` of `tool` it received, oldest first."""
        return [
            line["headers"].get("authorization", "")
            for line in self._lines()
            if line.get("tool") == tool
        ]

    def _lines(self) -> list[dict[str, Any]]:
        if not self.ledger.exists():
            return []
        return [json.loads(line) for line in self.ledger.read_text().splitlines()]


@contextmanager
def protected_upstream(workdir: Path, issuer: str) -> Iterator[ProtectedUpstream]:
    port = free_port()
    ledger = workdir / "protected.jsonl"
    script = str(SERVERS / "protected_http.py")
    process = subprocess.Popen([sys.executable, script, str(port), str(ledger), issuer])
    upstream = ProtectedUpstream(f"http://127.0.0.1:{port}/mcp", ledger, process)
    try:
        wait_until(lambda: _answers(upstream.url), "the protected upstream listens")
        yield upstream
    finally:
        process.terminate()
        process.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 401
    except httpx.HTTPError:
        return False


def oauth_server(name: str, url: str, connection: str = "perUser") -> str:
    return f"""
apiVersion: giru.ai/v1alpha1
kind: MCPServer
metadata: {{name: {name}}}
spec:
  transport: streamable-http
  url: {url}
  era: legacy
  timeouts: {{call: 5s, callMax: 20s, connect: 10s}}
  auth:
    type: oauth2-authorization-code
    connection: {connection}
    clientId: {CONFIDENTIAL_CLIENT}
    clientSecret: {{secretRef: {{name: upstream-oauth}}}}
    scopes: [openid, mcp]
"""


@dataclass
class ConnectedGiru:
    giru: RunningGiru
    idp: IdentityProviderPeer
    upstream: ProtectedUpstream

    @property
    def callback(self) -> str:
        return self.giru.url("/oauth/callback")

    def token(self, login: str, path: str = "/mcp") -> str:
        """`login`'s access token to Giru (`/mcp` for MCP, `/api` for the API)."""
        return self.idp.tokens(login, resource=self.giru.url(path)).access_token

    def browse(self, url: str, login: str) -> httpx.Response:
        """A browser opening `url`: redirects followed, `login` signs in at the IdP, and the
        page Giru's callback answers."""
        with httpx.Client(timeout=30) as browser:
            landed = self.idp.sign_in_at(browser, url, login, stop_at=self.callback)
            return browser.get(landed)

    def connect(self, login: str, server: str = "files") -> httpx.Response:
        """`login` connects `server` through the API and the browser."""
        started = self.api("POST", f"/api/v1/servers/{server}/connections", login)
        assert started.status_code == 201, started.text
        return self.browse(started.json()["authorizationUrl"], login)

    def api(self, method: str, path: str, login: str | None) -> httpx.Response:
        headers = (
            ADMIN_HEADERS
            if login is None
            else {"Authorization": f"Bearer {self.token(login, '/api')}"}
        )
        return httpx.request(method, self.giru.url(path), headers=headers, timeout=30)

    def call(self, token: str, tool: str = "files__whoami", **extra: Any) -> dict[str, Any]:
        response = mcp(
            self.giru, "tools/call", {"name": tool, "arguments": {}, **extra}, token=token
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def connection_manifests(
    idp: IdentityProviderPeer, upstream: ProtectedUpstream, connection: str
) -> str:
    """The IdP in direct mode, server `files` with `connection` connections, alice and bob
    subscribed to it."""
    provider = direct_provider(idp.issuer)
    people = [
        subscription("alice-files", "{user: alice@hospital.example}", server="files"),
        subscription("bob-files", "{user: bob@hospital.example}", server="files"),
    ]
    documents = [provider, oauth_server("files", upstream.url, connection), *people]
    return "\n---\n".join(d.strip() for d in documents)


@contextmanager
def connected_giru(
    workdir: Path,
    connection: str = "perUser",
    *,
    upstream_ttl: int = 300,
    extra_env: dict[str, str] | None = None,
) -> Iterator[ConnectedGiru]:
    """Giru (people from the IdP in direct mode), the IdP, and server `files` protected by the
    IdP with `connection` connections (its access tokens live `upstream_ttl` seconds); alice
    and bob may use its tools."""
    with run_giru(CLIENT, workdir, extra_env={**NO_POLICY, **(extra_env or {})}) as giru:
        idp_dir = workdir / "idp"
        idp_dir.mkdir()
        idp = start_identity_provider(idp_dir, {}, redirect_uris=[giru.url("/oauth/callback")])
        try:
            with protected_upstream(workdir, idp.issuer) as upstream:
                idp.add_resource(upstream.url, scope="mcp", ttl=upstream_ttl)
                for path in ("/mcp", "/api"):
                    idp.add_resource(giru.url(path), scope="mcp")
                put_secret(giru, "upstream-oauth", idp.client_secret)
                apply(giru, connection_manifests(idp, upstream, connection))
                yield ConnectedGiru(giru, idp, upstream)
        finally:
            idp.peer.stop()


def legacy_call(
    env: ConnectedGiru, token: str, capabilities: dict[str, Any], tool: str = "files__whoami"
) -> dict[str, Any]:
    """One tools/call in a new 2025-11-25 session of a client declaring `capabilities`."""
    headers = {
        "authorization": f"Bearer {token}",
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
    }
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY,
            "capabilities": capabilities,
            "clientInfo": {"name": "legacy", "version": "0"},
        },
    }
    opened = httpx.post(env.giru.url("/mcp"), json=init, headers=headers, timeout=30)
    assert opened.status_code == 200, opened.text
    session = {
        **headers,
        "mcp-session-id": opened.headers["mcp-session-id"],
        "mcp-protocol-version": LEGACY,
    }
    notice = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    httpx.post(env.giru.url("/mcp"), json=notice, headers=session, timeout=30)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool}}
    response = httpx.post(env.giru.url("/mcp"), json=body, headers=session, timeout=30)
    assert response.status_code == 200, response.text
    return read_answer(response)


def audit_records(env: ConnectedGiru | RunningGiru, action: str) -> list[dict[str, Any]]:
    """The audit records of `action`, newest first."""
    giru = env.giru if isinstance(env, ConnectedGiru) else env
    response = httpx.get(
        giru.url("/api/v1/audit"), params={"action": action}, headers=ADMIN_HEADERS, timeout=30
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
