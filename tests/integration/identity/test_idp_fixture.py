"""The test OIDC provider (tests/idp.py) does what the identity tests rely on."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tests.idp import CONFIDENTIAL_CLIENT, IdentityProviderPeer, SignInError

RESOURCE = "http://127.0.0.1:1/mcp"


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert isinstance(decoded, dict)
    return decoded


def test_discovery_names_the_issuer_and_supports_pkce_s256(
    oidc_provider: IdentityProviderPeer,
) -> None:
    metadata = oidc_provider.metadata()
    assert metadata["issuer"] == oidc_provider.issuer
    assert metadata["jwks_uri"] == oidc_provider.jwks_uri
    assert metadata["code_challenge_methods_supported"] == ["S256"]


def test_a_signed_in_user_gets_a_jwt_access_token_for_the_resource(
    oidc_provider: IdentityProviderPeer,
) -> None:
    tokens = oidc_provider.tokens("alice", resource=RESOURCE, amr=("pwd", "otp"))
    claims = _claims(tokens.access_token)
    assert claims["iss"] == oidc_provider.issuer
    assert claims["aud"] == RESOURCE
    assert claims["sub"] == "sub-alice"
    assert claims["email"] == "alice@hospital.example"
    assert claims["groups"] == ["nurses"]
    assert claims["amr"] == ["pwd", "otp"]
    assert isinstance(claims["auth_time"], int)
    assert claims["client_id"] == "mcp-test-client"
    assert "mcp" in claims["scope"].split()
    assert tokens.refresh_token is not None
    assert tokens.id_token is not None
    assert _claims(tokens.id_token)["email"] == "alice@hospital.example"


def test_a_refresh_carries_the_groups_the_idp_holds_now(
    oidc_provider: IdentityProviderPeer,
) -> None:
    tokens = oidc_provider.tokens("bob", resource=RESOURCE)
    assert tokens.refresh_token is not None
    oidc_provider.set_groups("bob", ["nurses"])
    try:
        refreshed = oidc_provider.refresh(tokens.refresh_token, resource=RESOURCE)
        assert _claims(refreshed.access_token)["groups"] == ["nurses"]
    finally:
        oidc_provider.set_groups("bob", ["billing"])


def test_a_confidential_client_and_an_added_resource_work(
    oidc_provider: IdentityProviderPeer,
) -> None:
    oidc_provider.add_resource("http://127.0.0.1:2/mcp/clinic", alg="ES256")
    tokens = oidc_provider.tokens(
        "carol", resource="http://127.0.0.1:2/mcp/clinic", client_id=CONFIDENTIAL_CLIENT
    )
    header = json.loads(base64.urlsafe_b64decode(tokens.access_token.split(".")[0] + "=="))
    assert header["alg"] == "ES256"
    assert _claims(tokens.access_token)["aud"] == "http://127.0.0.1:2/mcp/clinic"


def test_a_wrong_password_is_refused(oidc_provider: IdentityProviderPeer) -> None:
    with httpx.Client() as http, pytest.raises(SignInError, match="refused"):
        oidc_provider.sign_in_at(
            http,
            f"{oidc_provider.issuer}/auth?client_id=mcp-test-client&response_type=code"
            "&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcallback&scope=openid"
            "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
            "alice",
            password="wrong",
        )


def test_jwks_fetches_are_counted(oidc_provider: IdentityProviderPeer) -> None:
    before = oidc_provider.jwks_fetches()
    httpx.get(oidc_provider.jwks_uri).raise_for_status()
    assert oidc_provider.jwks_fetches() == before + 1


def test_an_opaque_resource_gets_tokens_its_introspection_endpoint_describes(
    oidc_provider: IdentityProviderPeer,
) -> None:
    resource = "http://127.0.0.1:3/mcp"
    oidc_provider.add_resource(resource, opaque=True)
    token = oidc_provider.tokens("alice", resource=resource).access_token
    assert "." not in token
    answer = oidc_provider.introspect(token)
    assert answer["active"] is True
    assert answer["iss"] == oidc_provider.issuer
    assert answer["aud"] == resource
    assert answer["sub"] == "sub-alice"
    assert answer["groups"] == ["nurses"]
    assert answer["token_type"] == "Bearer"
    oidc_provider.revoke(token)
    assert oidc_provider.introspect(token) == {"active": False}
