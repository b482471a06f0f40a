from __future__ import annotations

import pytest

from giru.credentials.oauth import (
    BearerChallenge,
    Discovery,
    DiscoveryError,
    OAuthError,
    OAuthHttp,
)
from tests.unit.credentials.oauth.conftest import TestAS


async def test_discovery_follows_the_401_to_the_resource_and_server_metadata(
    auth_server: TestAS, oauth_http: OAuthHttp
) -> None:
    found = await Discovery(oauth_http).discover(auth_server.server_url)
    assert found.server.issuer == auth_server.base
    assert found.server.token_endpoint == f"{auth_server.base}/token"
    assert found.resource == auth_server.server_url
    assert found.scopes == ("mcp:read",)  # the PRM's scopes_supported (no scope challenged)
    assert auth_server.hits == [
        "/mcp",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-authorization-server",
    ]


async def test_a_challenged_scope_wins_and_a_second_discovery_is_cached(
    auth_server: TestAS, oauth_http: OAuthHttp
) -> None:
    discovery = Discovery(oauth_http)
    challenge = BearerChallenge(
        f"{auth_server.base}/.well-known/oauth-protected-resource/mcp", ("mcp:write",)
    )
    found = await discovery.discover(auth_server.server_url, challenge)
    assert found.scopes == ("mcp:write",)
    hits = len(auth_server.hits)
    await discovery.discover(auth_server.server_url)
    assert len(auth_server.hits) == hits


async def test_a_resource_that_does_not_name_the_server_is_refused(
    auth_server: TestAS, oauth_http: OAuthHttp
) -> None:
    auth_server.prm_override = {
        "resource": f"{auth_server.base}/other",
        "authorization_servers": [auth_server.base],
    }
    with pytest.raises(DiscoveryError, match="RFC 9728"):
        await Discovery(oauth_http).discover(auth_server.server_url)
    assert "/.well-known/oauth-authorization-server" not in auth_server.hits


async def test_metadata_naming_another_issuer_is_refused(
    auth_server: TestAS, oauth_http: OAuthHttp
) -> None:
    auth_server.metadata_override = {
        "issuer": "https://attacker.example.com",
        "token_endpoint": "https://attacker.example.com/token",
    }
    with pytest.raises(DiscoveryError, match="RFC 8414"):
        await Discovery(oauth_http).discover(auth_server.server_url)


async def test_a_server_without_resource_metadata_is_its_own_authorization_server(
    auth_server: TestAS, oauth_http: OAuthHttp
) -> None:
    auth_server.challenge = "Bearer"
    found = await Discovery(oauth_http).discover(f"{auth_server.base}/mcp/x")
    assert found.server.issuer == auth_server.base
    assert found.resource == f"{auth_server.base}/mcp/x"
    assert found.protected_resource is None


@pytest.mark.parametrize(
    ("metadata_url", "says"),
    [
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://example.com/prm", "must be https"),
    ],
)
async def test_metadata_urls_go_through_the_egress_guard(
    auth_server: TestAS, oauth_http: OAuthHttp, metadata_url: str, says: str
) -> None:
    with pytest.raises(OAuthError, match=says):
        await Discovery(oauth_http).discover(
            auth_server.server_url, BearerChallenge(resource_metadata=metadata_url)
        )


async def test_a_redirect_during_discovery_is_not_followed(
    auth_server: TestAS, oauth_http: OAuthHttp
) -> None:
    auth_server.challenge = f'Bearer resource_metadata="{auth_server.base}/redirect"'
    with pytest.raises(OAuthError):
        await Discovery(oauth_http).discover(auth_server.server_url)
