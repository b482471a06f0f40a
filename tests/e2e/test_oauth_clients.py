"""The official MCP SDKs' OAuth clients reach Giru's `/mcp` as MCP clients in the field do.

The Python SDK (`mcp` 2.3.0 from PyPI, `OAuthClientProvider`) and the TypeScript SDKs
(`@modelcontextprotocol/sdk` 1.32.2 and `@modelcontextprotocol/client` 2.4.0 from npm, driven by
tests/e2e/oauth_client.mjs) each start from a bare URL: the 401's protected resource metadata,
Giru's authorization server metadata, then dynamic client registration or (separately) a client
ID metadata document served over https, sign-in at the real IdP (oidc-provider, its form posted
as a browser would) and Giru's consent page, the code redeemed with PKCE. Then tools/list and
one tools/call, in the legacy era and in 2026-07-28; the call's audit record names the person
(`user:<email>`) and the OAuth client.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import parse_qs, urlsplit

import httpx
import mcp_types as types
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl

from tests.integration.gateway import python_stdio_server, wait_until
from tests.integration.identity.broker import CLIENT_REDIRECT, BrokeredGiru, brokered_giru
from tests.integration.oauth import MODERN, subscription
from tests.peers import REPO_ROOT, TOOLS, node_env, require_tools

pytestmark = pytest.mark.integration

PERSON: Final = "user:alice@hospital.example"
TS_CLIENT: Final = REPO_ROOT / "tests" / "e2e" / "oauth_client.mjs"
_TIMEOUT: Final = 90.0
Registration = Literal["dcr", "cimd"]


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokeredGiru]:
    """Giru's authorization server in front of the real IdP, the `clinic` server behind `/mcp`,
    and group `nurses` (alice) subscribed to it."""
    extra = python_stdio_server("clinic") + "\n---\n" + subscription("nurses", "{group: nurses}")
    with brokered_giru(tmp_path_factory.mktemp("oauth-clients"), extra) as running:

        def ready() -> bool:
            answer = httpx.get(running.url("/readyz"))
            return answer.status_code == 200 and answer.json()["servers"].get("clinic") == "ok"

        wait_until(ready, "clinic's tools known to Giru", timeout=60)
        yield running


def _certificate(directory: Path) -> ssl.SSLContext:
    """A TLS server context for 127.0.0.1 with a self-signed certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert, private = directory / "cert.pem", directory / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, private)
    return context


class _Documents(BaseHTTPRequestHandler):
    """Client ID metadata documents: `/clients/<name>.json` names itself by its own URL."""

    def do_GET(self) -> None:
        port = self.server.server_port  # type: ignore[attr-defined]
        document = {
            "client_id": f"https://127.0.0.1:{port}{self.path}",
            "client_name": f"Metadata document client {self.path}",
            "redirect_uris": [CLIENT_REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }
        body = json.dumps(document).encode()
        self.send_response(200 if self.path.startswith("/clients/") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Where client ID metadata documents are served, over https."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Documents)
    context = _certificate(tmp_path_factory.mktemp("cimd-tls"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/clients"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _audited_call(giru: BrokeredGiru, client_id: str) -> dict[str, Any]:
    """The audit record of the person's tools/call made through OAuth client `client_id`."""
    found: list[dict[str, Any]] = []

    def stored() -> bool:
        records = giru.audit(action="tools/call", actor=PERSON)
        found[:] = [r for r in records if r["details"].get("client") == client_id]
        return bool(found)

    wait_until(stored, f"the audit record of {PERSON}'s call through {client_id}")
    return found[0]


def _assert_audit_names_the_person_and_client(giru: BrokeredGiru, client_id: str) -> None:
    record = _audited_call(giru, client_id)
    assert record["actor"] == PERSON
    assert record["details"]["client"] == client_id
    assert record["details"]["subject"]["email"] == "alice@hospital.example"
    assert record["details"]["subject"]["groups"] == ["nurses"]


# --- Python SDK ----------------------------------------------------------------------------


class _Memory:
    """The SDK's `TokenStorage`, in memory as for one run of a CLI client."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class _Browser:
    """The SDK's redirect and callback handlers: alice signs in where the SDK sends her."""

    def __init__(self, giru: BrokeredGiru) -> None:
        self.giru = giru
        self.landed: str | None = None

    async def redirect(self, url: str) -> None:
        self.landed = await asyncio.to_thread(self.giru.sign_in, url)

    async def callback(self) -> AuthorizationCodeResult:
        assert self.landed is not None
        params = parse_qs(urlsplit(self.landed).query)
        return AuthorizationCodeResult(
            code=params["code"][0], state=params["state"][0], iss=params["iss"][0]
        )


async def _python_sdk(
    giru: BrokeredGiru, mode: Literal["legacy", "auto"], document: str | None
) -> tuple[str, list[str], types.CallToolResult, str]:
    """Connect, list every tool and call clinic__echo: the protocol version, the tool names,
    the call's result and the OAuth client_id the SDK used."""
    storage, browser = _Memory(), _Browser(giru)
    metadata = OAuthClientMetadata(
        redirect_uris=[AnyUrl(CLIENT_REDIRECT)],
        client_name=f"giru e2e python {mode}",
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="none",
    )
    auth = OAuthClientProvider(
        giru.mcp,
        metadata,
        storage,
        redirect_handler=browser.redirect,
        callback_handler=browser.callback,
        client_metadata_url=document,
    )
    async with (
        create_mcp_http_client(auth=auth) as http,
        Client(streamable_http_client(giru.mcp, http_client=http), mode=mode) as client,
    ):
        tools = [tool.name for tool in (await client.list_tools()).tools]
        assert "clinic__echo" in tools, tools
        result = await client.call_tool("clinic__echo", {"text": f"signed in via {mode}"})
        version = client.protocol_version
    assert storage.client is not None
    assert storage.client.client_id is not None
    return str(version), tools, result, storage.client.client_id


@pytest.mark.parametrize("registration", ["dcr", "cimd"])
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_python_sdk_signs_a_person_in_and_calls_a_tool(
    giru: BrokeredGiru,
    documents: str,
    mode: Literal["legacy", "auto"],
    registration: Registration,
) -> None:
    document = f"{documents}/python-{mode}.json" if registration == "cimd" else None
    version, tools, result, client_id = await _python_sdk(giru, mode, document)
    assert (version == MODERN) is (mode == "auto"), version
    assert "clinic__echo" in tools
    assert not result.is_error
    text = "".join(b.text for b in result.content if isinstance(b, types.TextContent))
    assert f"signed in via {mode}" in text
    if document is not None:
        assert client_id == document
    else:
        assert not client_id.startswith("https://")  # registered: an id Giru gave it
    await asyncio.to_thread(_assert_audit_names_the_person_and_client, giru, client_id)


# --- TypeScript SDKs -----------------------------------------------------------------------


def _typescript_sdk(giru: BrokeredGiru, flavour: str, document: str | None) -> dict[str, Any]:
    """Run oauth_client.mjs, do the browser's part when it asks, and return its summary."""
    require_tools(TOOLS.node, TOOLS.package("@modelcontextprotocol/sdk"))
    require_tools(TOOLS.package("@modelcontextprotocol/client"))
    argv = [str(TOOLS.node), str(TS_CLIENT), flavour, giru.mcp, CLIENT_REDIRECT]
    argv += [document] if document is not None else []
    env = node_env({"OAUTH_NODE_MODULES": str(TOOLS.npm_modules)})
    with subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as node:
        assert node.stdin is not None
        assert node.stdout is not None
        try:
            asked = json.loads(node.stdout.readline() or "{}")
            assert "authorize" in asked, node.stderr.read() if node.stderr else ""
            assert asked["authorize"].startswith(giru.url("/oauth/authorize?"))
            node.stdin.write(giru.sign_in(asked["authorize"]) + "\n")
            node.stdin.flush()
            out, err = node.communicate(timeout=_TIMEOUT)
        finally:
            if node.poll() is None:
                node.kill()
                node.wait()
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert node.returncode == 0, f"exit {node.returncode}\n{out[-2000:]}\n{err[-3000:]}"
    assert lines, f"exit {node.returncode}\n{out[-2000:]}\n{err[-3000:]}"
    summary = json.loads(lines[-1])
    assert isinstance(summary, dict)
    return summary


@pytest.mark.parametrize("registration", ["dcr", "cimd"])
@pytest.mark.parametrize("flavour", ["sdk", "v2"])
def test_the_typescript_sdks_sign_a_person_in_and_call_a_tool(
    giru: BrokeredGiru, documents: str, flavour: str, registration: Registration
) -> None:
    document = f"{documents}/ts-{flavour}.json" if registration == "cimd" else None
    summary = _typescript_sdk(giru, flavour, document)
    assert (summary["protocolVersion"] == MODERN) is (flavour == "v2"), summary
    assert "clinic__echo" in summary["tools"]
    assert not summary["isError"]
    assert f"signed in via {flavour}" in summary["text"]
    client_id = document if document is not None else summary["clientId"]
    assert isinstance(client_id, str)
    assert client_id
    _assert_audit_names_the_person_and_client(giru, client_id)
