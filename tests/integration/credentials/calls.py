"""What the upstream-credential tests share: a legacy MCP session through a running Giru, the
header-recording upstream (`servers/headers_http.py`) and manifests using `spec.auth`."""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import yaml

from tests.integration.gateway import ADMIN_TOKEN, KEY, SERVERS, RunningGiru, wait_until
from tests.peers import free_port

LEGACY: Final = "2025-11-25"
ADMIN_HEADERS: Final = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BASE: Final = {
    "authorization": f"Bearer {KEY}",
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
}


@dataclass
class HeadersUpstream:
    url: str
    ledger: Path
    process: subprocess.Popen[bytes]

    def seen(self) -> list[dict[str, str]]:
        """The headers of every request it received, oldest first."""
        return [headers for _, headers in self.requests()]

    def requests(self) -> list[tuple[str, dict[str, str]]]:
        """(path, headers) of every request it received, oldest first."""
        if not self.ledger.exists():
            return []
        lines = [json.loads(line) for line in self.ledger.read_text().splitlines()]
        return [(line["path"], line["headers"]) for line in lines]

    @property
    def token_endpoint(self) -> str:
        return self.url.removesuffix("/mcp") + "/token"


@contextmanager
def headers_upstream(
    workdir: Path, tls: tuple[Path, Path, Path] | None = None
) -> Iterator[HeadersUpstream]:
    """The upstream on loopback; with `tls` (certificate, key, CA), over HTTPS requiring a
    client certificate from that CA."""
    port = free_port()
    ledger = workdir / "headers.jsonl"
    script = str(SERVERS / "headers_http.py")
    env = dict(os.environ)
    scheme = "http"
    if tls is not None:
        scheme = "https"
        env |= {f"HEADERS_TLS_{n}": str(p) for n, p in zip(("CERT", "KEY", "CA"), tls, strict=True)}
    process = subprocess.Popen([sys.executable, script, str(port), str(ledger)], env=env)
    upstream = HeadersUpstream(f"{scheme}://localhost:{port}/mcp", ledger, process)
    if tls is None:
        upstream.url = f"http://127.0.0.1:{port}/mcp"
    try:
        wait_until(lambda: process.poll() is None and _answers(upstream.url, tls), "it listens")
        yield upstream
    finally:
        process.terminate()
        process.wait(timeout=10)


def _answers(url: str, tls: tuple[Path, Path, Path] | None = None) -> bool:
    if tls is not None:  # it wants a client certificate: a TCP connect says it listens
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True
    try:
        return httpx.get(url, timeout=1).status_code == 405
    except httpx.HTTPError:
        return False


def http_auth_server(name: str, url: str, auth: str) -> str:
    return f"""
apiVersion: giru.ai/v1alpha1
kind: MCPServer
metadata: {{name: {name}}}
spec:
  transport: streamable-http
  url: {url}
  era: legacy
  timeouts: {{call: 5s, callMax: 20s, connect: 10s}}
  auth: {auth}
"""


def stdio_auth_server(name: str, auth: str) -> str:
    return f"""
apiVersion: giru.ai/v1alpha1
kind: MCPServer
metadata: {{name: {name}}}
spec:
  transport: stdio
  command: {sys.executable}
  args: ["{SERVERS / "environment.py"}"]
  env: {{PYTHONPATH: "{":".join(sys.path)}"}}
  timeouts: {{call: 5s, callMax: 20s, connect: 20s}}
  auth: {auth}
"""


@dataclass
class Mcp:
    """A legacy-era client session with Giru (the test client's own API key)."""

    giru: RunningGiru
    headers: dict[str, str] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def open(self) -> Mcp:
        init = _rpc("initialize", {"protocolVersion": LEGACY, "capabilities": {}}, 0)
        response = httpx.post(self.giru.url("/mcp"), json=init, headers=BASE, timeout=30)
        assert response.status_code == 200, response.text
        self.headers = {
            **BASE,
            "mcp-session-id": response.headers["mcp-session-id"],
            "mcp-protocol-version": LEGACY,
        }
        notice = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        httpx.post(self.giru.url("/mcp"), json=notice, headers=self.headers, timeout=30)
        return self

    def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        body = _rpc("tools/call", {"name": tool, "arguments": arguments or {}}, next(self._ids))
        response = httpx.post(self.giru.url("/mcp"), json=body, headers=self.headers, timeout=30)
        assert response.status_code == 200, response.text
        return read_answer(response)

    def text(self, tool: str, arguments: dict[str, Any] | None = None) -> str | None:
        """The tool's text, or None when the call failed."""
        result = self.call(tool, arguments).get("result")
        return None if result is None else str(result["content"][0]["text"])

    def tools(self) -> set[str]:
        body = _rpc("tools/list", {}, next(self._ids))
        response = httpx.post(self.giru.url("/mcp"), json=body, headers=self.headers, timeout=30)
        return {tool["name"] for tool in read_answer(response).get("result", {}).get("tools", [])}


def _rpc(method: str, params: dict[str, Any], request_id: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def read_answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC answer in a response: its JSON body, or the last event with an `id`."""
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
        messages = [json.loads(d) for d in data if d.strip()]
        return [m for m in messages if "id" in m][-1]  # type: ignore[no-any-return]
    return response.json()  # type: ignore[no-any-return]


def put_secret(giru: RunningGiru, name: str, value: str | dict[str, str]) -> None:
    """Set secret `name` to `value` (its `value` entry) or to these entries."""
    response = httpx.put(
        giru.url(f"/api/v1/secrets/{name}"),
        json={"data": value if isinstance(value, dict) else {"value": value}},
        headers=ADMIN_HEADERS,
        timeout=30,
    )
    assert response.status_code in (200, 201), response.text


def apply(giru: RunningGiru, manifests: str) -> None:
    documents = [d for d in yaml.safe_load_all(manifests) if d]
    response = httpx.post(
        giru.url("/api/v1/apply"), json={"documents": documents}, headers=ADMIN_HEADERS, timeout=60
    )
    assert response.status_code == 200, response.text
