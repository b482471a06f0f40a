"""Direct mode against a real IdP and a real `giru run`: Giru as an OAuth protected resource."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.idp import IdentityProviderPeer
from tests.integration.gateway import KEY
from tests.integration.oauth import DirectGiru, direct_giru, mcp

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def direct(
    oidc_provider: IdentityProviderPeer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DirectGiru]:
    with direct_giru(oidc_provider, tmp_path_factory.mktemp("direct")) as running:
        yield running


@pytest.mark.parametrize(
    ("metadata", "resource"),
    [
        ("/.well-known/oauth-protected-resource", "/mcp"),
        ("/.well-known/oauth-protected-resource/mcp", "/mcp"),
        ("/.well-known/oauth-protected-resource/mcp/ward", "/mcp/ward"),
        ("/.well-known/oauth-protected-resource/sse", "/sse"),
        ("/.well-known/oauth-protected-resource/mcp/ward/sse", "/mcp/ward/sse"),
    ],
)
def test_each_endpoint_publishes_its_protected_resource_metadata(
    direct: DirectGiru, metadata: str, resource: str
) -> None:
    response = httpx.get(direct.giru.url(metadata))
    assert response.status_code == 200
    assert response.json() == {
        "resource": direct.giru.url(resource),
        "authorization_servers": [direct.idp.issuer],
        "bearer_methods_supported": ["header"],
        "resource_name": "Giru MCP gateway",
        "scopes_supported": ["mcp"],
    }


@pytest.mark.parametrize(
    "metadata",
    [
        "/.well-known/oauth-protected-resource/mcp/keysonly",
        "/.well-known/oauth-protected-resource/mcp/nothing",
        "/.well-known/oauth-protected-resource/mcp/ward/messages",
    ],
)
def test_an_endpoint_without_oauth_has_no_metadata(direct: DirectGiru, metadata: str) -> None:
    assert httpx.get(direct.giru.url(metadata)).status_code == 404


@pytest.mark.parametrize("path", ["/mcp", "/mcp/ward"])
def test_no_credentials_get_a_challenge_naming_the_metadata(direct: DirectGiru, path: str) -> None:
    response = mcp(direct.giru, "tools/list", token=None, path=path)
    assert response.status_code == 401
    metadata = direct.giru.url(f"/.well-known/oauth-protected-resource{path}")
    assert response.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{metadata}", scope="mcp"'
    )


def test_an_idp_token_for_the_endpoint_is_accepted(direct: DirectGiru) -> None:
    token = direct.token("alice")
    for path in ("/mcp",):
        response = mcp(direct.giru, "tools/list", token=token, path=path)
        assert response.status_code == 200, response.text
        assert "result" in response.json()


def test_a_virtual_server_takes_only_tokens_minted_for_it(direct: DirectGiru) -> None:
    ward = direct.token("alice", path="/mcp/ward")
    assert mcp(direct.giru, "tools/list", token=ward, path="/mcp/ward").status_code == 200
    response = mcp(direct.giru, "tools/list", token=ward, path="/mcp")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "another resource" in response.json()["error"]["message"]


def test_api_keys_keep_working_where_oauth_is_also_accepted(direct: DirectGiru) -> None:
    assert mcp(direct.giru, "tools/list", token=KEY).status_code == 200
    assert mcp(direct.giru, "tools/list", token=KEY, path="/mcp/keysonly").status_code == 200
    refused = mcp(direct.giru, "tools/list", token=KEY, path="/mcp/ward")
    assert refused.status_code == 401


def test_an_api_key_only_endpoint_refuses_tokens(direct: DirectGiru) -> None:
    token = direct.token("alice", path="/mcp/keysonly")
    response = mcp(direct.giru, "tools/list", token=token, path="/mcp/keysonly")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="giru"'
