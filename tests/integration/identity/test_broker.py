"""Giru's authorization server end to end: DCR, sign-in at the real IdP, consent, tokens."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jwt
import pytest

from giru.identity.broker.tokens import digest
from tests.integration.identity.broker import BrokeredGiru, brokered_giru

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokeredGiru]:
    with brokered_giru(tmp_path_factory.mktemp("broker")) as running:
        yield running


def test_metadata_issuer_is_the_url_it_is_served_under(giru: BrokeredGiru) -> None:
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        document = httpx.get(giru.url(path)).json()
        assert document["issuer"] == giru.issuer
        assert document["code_challenge_methods_supported"] == ["S256"]
        assert document["authorization_response_iss_parameter_supported"] is True
        assert document["client_id_metadata_document_supported"] is True


def test_without_a_role_group_the_console_does_not_offer_the_idp(giru: BrokeredGiru) -> None:
    # No GIRU_IDENTITY__*_GROUP here: no one signed in at the IdP could hold an API role.
    offered = httpx.get(giru.url("/api/v1/sign-in"))
    assert (offered.status_code, offered.json()) == (200, {"identityProvider": None})


def test_a_registered_client_gets_an_es256_token_for_the_resource_it_asked_for(
    giru: BrokeredGiru,
) -> None:
    client = giru.register()
    with httpx.Client() as http:
        authorization = giru.authorize(http, client["client_id"], "alice")
    assert authorization.params["iss"] == [giru.issuer]
    assert authorization.params["state"] == [authorization.state]
    response = giru.redeem(client["client_id"], authorization)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    jwks = jwt.PyJWKSet.from_dict(httpx.get(giru.url("/oauth/jwks.json")).json())
    kid = jwt.get_unverified_header(body["access_token"])["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    claims = jwt.decode(
        body["access_token"], key.key, algorithms=["ES256"], audience=giru.mcp, issuer=giru.issuer
    )
    assert claims["sub"] == "sub-alice"
    assert claims["email"] == "alice@hospital.example"
    assert claims["groups"] == ["nurses"]
    assert claims["client_id"] == client["client_id"]
    assert claims["amr"] == ["pwd"]
    assert body["refresh_token"].startswith("giru_rt_")
    assert giru.wait_for_audit("oauth/token", actor="alice@hospital.example")


def test_secrets_never_reach_the_audit_log_or_the_logs(
    giru: BrokeredGiru, capfd: pytest.CaptureFixture[str]
) -> None:
    client = giru.register()
    with httpx.Client() as http:
        authorization = giru.authorize(http, client["client_id"], "bob")
    body = giru.redeem(client["client_id"], authorization).json()
    records = giru.wait_for_audit("oauth/token", actor="bob@hospital.example")
    captured = capfd.readouterr()
    text = str(giru.audit()) + giru.log_text() + captured.out + captured.err
    for secret in (authorization.code, body["access_token"], body["refresh_token"]):
        assert secret not in text
    assert records[0]["details"]["access_token_sha256"] == digest(body["access_token"])


def test_giru_accepts_the_tokens_it_issued_at_its_mcp_endpoint(giru: BrokeredGiru) -> None:
    client = giru.register()
    with httpx.Client() as http:
        authorization = giru.authorize(http, client["client_id"], "carol")
    token = giru.redeem(client["client_id"], authorization).json()["access_token"]
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    anonymous = httpx.post(giru.mcp, json=initialize, headers=headers)
    assert anonymous.status_code == 401
    assert (
        giru.url("/.well-known/oauth-protected-resource") in anonymous.headers["www-authenticate"]
    )
    signed = httpx.post(
        giru.mcp, json=initialize, headers={**headers, "Authorization": f"Bearer {token}"}
    )
    assert signed.status_code == 200, signed.text
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    refused = httpx.post(
        giru.mcp, json=initialize, headers={**headers, "Authorization": f"Bearer {forged}"}
    )
    assert refused.status_code == 401
