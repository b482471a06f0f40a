"""CORS for browser-based MCP clients (the MCP Inspector), over real HTTP against a running
Giru whose authorization server brokers sign-in to the real test IdP: preflights and response
headers on the MCP endpoints, the discovery documents and the OAuth endpoints a script calls,
for allowed origins only."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.gateway import python_stdio_server
from tests.integration.identity.broker import CLIENT_REDIRECT, BrokeredGiru, brokered_giru

pytestmark = pytest.mark.integration

INSPECTOR = "https://inspector.example"
LOCAL_INSPECTOR = "http://localhost:6274"  # the MCP Inspector's own default address
STRANGER = "https://evil.example"
_WARD = """
apiVersion: giru.ai/v1alpha1
kind: VirtualServer
metadata: {name: ward}
spec: {servers: [clinic], auth: oauth}
"""
_SCRIPT_PATHS = [
    "/mcp",
    "/mcp/ward",
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp/ward",
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
    "/oauth/token",
    "/oauth/register",
    "/oauth/revoke",
]


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokeredGiru]:
    extra = "\n---\n".join((python_stdio_server("clinic"), _WARD))
    with brokered_giru(tmp_path_factory.mktemp("cors"), extra, origins=[INSPECTOR]) as running:
        yield running


def _preflight(giru: BrokeredGiru, path: str, origin: str) -> httpx.Response:
    return httpx.options(
        giru.url(path),
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type, mcp-protocol-version",
        },
    )


def _cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


@pytest.mark.parametrize("path", _SCRIPT_PATHS)
@pytest.mark.parametrize("origin", [INSPECTOR, LOCAL_INSPECTOR])
def test_an_allowed_origin_gets_its_preflight_answered(
    giru: BrokeredGiru, path: str, origin: str
) -> None:
    response = _preflight(giru, path, origin)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == origin
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == (
        "authorization, content-type, mcp-protocol-version"
    )
    assert "access-control-allow-credentials" not in response.headers
    assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize("path", _SCRIPT_PATHS)
def test_a_disallowed_origin_gets_no_cors_headers(giru: BrokeredGiru, path: str) -> None:
    assert _cors_headers(_preflight(giru, path, STRANGER)) == {}
    assert _cors_headers(httpx.post(giru.url(path), headers={"origin": STRANGER})) == {}


@pytest.mark.parametrize("path", ["/mcp", "/mcp/ward"])
def test_a_browser_can_read_the_challenge_of_an_unauthenticated_call(
    giru: BrokeredGiru, path: str
) -> None:
    response = httpx.post(
        giru.url(path),
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={
            "origin": INSPECTOR,
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": "2025-06-18",
        },
    )
    assert response.status_code == 401
    assert "resource_metadata=" in response.headers["www-authenticate"]
    assert response.headers["access-control-allow-origin"] == INSPECTOR
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"www-authenticate", "mcp-session-id", "mcp-protocol-version"} <= exposed
    assert "access-control-allow-credentials" not in response.headers


def test_discovery_and_registration_answer_an_allowed_origin(giru: BrokeredGiru) -> None:
    metadata = httpx.get(
        giru.url("/.well-known/oauth-protected-resource/mcp"), headers={"origin": INSPECTOR}
    )
    assert metadata.status_code == 200
    assert metadata.headers["access-control-allow-origin"] == INSPECTOR
    registered = httpx.post(
        giru.url("/oauth/register"),
        json={"redirect_uris": [CLIENT_REDIRECT], "token_endpoint_auth_method": "none"},
        headers={"origin": INSPECTOR},
    )
    assert registered.status_code == 201, registered.text
    assert registered.headers["access-control-allow-origin"] == INSPECTOR
    token = httpx.post(
        giru.url("/oauth/token"), data={"grant_type": "password"}, headers={"origin": INSPECTOR}
    )
    assert token.status_code == 400
    assert token.headers["access-control-allow-origin"] == INSPECTOR


def test_the_sign_in_pages_are_never_cors(giru: BrokeredGiru) -> None:
    for path in ("/oauth/authorize", "/oauth/consent", "/oauth/idp/callback"):
        assert _cors_headers(_preflight(giru, path, INSPECTOR)) == {}
        assert _cors_headers(httpx.get(giru.url(path), headers={"origin": INSPECTOR})) == {}


def test_a_disallowed_origin_is_still_refused_at_the_mcp_endpoint(giru: BrokeredGiru) -> None:
    response = httpx.post(
        giru.url("/mcp"),
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"origin": STRANGER, "accept": "application/json, text/event-stream"},
    )
    assert response.status_code == 403
    assert _cors_headers(response) == {}
