"""Bad access tokens at Giru's resource server (a real `giru run`, the real test IdP and an
issuer whose keys the test holds): each is refused with 401 and a reason, nothing is granted,
and no token text reaches the log or the audit records. API keys keep working alongside."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.idp import IdentityProviderPeer
from tests.integration.gateway import ADMIN_TOKEN, KEY, wait_until
from tests.integration.oauth import DirectGiru, StaticIssuer, direct_giru, mcp, static_issuer
from tests.tokens import forge_hs256, forge_none, tamper

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Setup:
    direct: DirectGiru
    lab: StaticIssuer


@pytest.fixture(scope="module")
def setup(
    oidc_provider: IdentityProviderPeer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    with (
        static_issuer() as lab,
        direct_giru(oidc_provider, tmp_path_factory.mktemp("tokens"), lab.manifest()) as direct,
    ):
        yield Setup(direct, lab)


SENT: list[str] = []
"""Every token the cases sent (none may appear in the log or the audit records)."""


def refused(setup: Setup, token: str, reason: str, path: str = "/mcp") -> None:
    SENT.append(token)
    response = mcp(setup.direct.giru, "tools/list", token=token, path=path)
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer resource_metadata="')
    assert 'error="invalid_token"' in challenge
    assert reason in response.json()["error"]["message"]
    assert "result" not in response.json()


def idp_public_pem(idp: IdentityProviderPeer) -> tuple[bytes, str]:
    keys = httpx.get(idp.jwks_uri).json()["keys"]
    rsa = next(key for key in keys if key["kty"] == "RSA")
    public = jwt.PyJWK(rsa).key
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, rsa["kid"]


def test_an_expired_token_is_refused(setup: Setup) -> None:
    token = setup.lab.signer.token(setup.direct.resource(), exp=int(time.time()) - 120)
    refused(setup, token, "expired")


def test_a_token_not_valid_yet_is_refused(setup: Setup) -> None:
    token = setup.lab.signer.token(setup.direct.resource(), nbf=int(time.time()) + 600)
    refused(setup, token, "not valid yet")


def test_a_token_for_another_resource_is_refused(setup: Setup) -> None:
    token = setup.direct.idp.tokens("alice", resource="http://127.0.0.1:1/mcp").access_token
    refused(setup, token, "another resource")


def test_a_token_for_another_virtual_server_is_refused(setup: Setup) -> None:
    token = setup.direct.token("alice", path="/mcp/ward")
    refused(setup, token, "another resource", path="/mcp")
    refused(setup, setup.direct.token("alice"), "another resource", path="/mcp/ward")


def test_a_token_from_an_issuer_not_trusted_is_refused(setup: Setup) -> None:
    token = setup.lab.signer.token(setup.direct.resource(), iss="https://evil.example")
    refused(setup, token, "not from an issuer this gateway trusts")


def test_a_token_claiming_another_trusted_issuer_is_refused(setup: Setup) -> None:
    token = setup.lab.signer.token(setup.direct.resource(), iss=setup.direct.idp.issuer)
    refused(setup, token, "signing key is unknown")


def test_an_unsigned_token_is_refused(setup: Setup) -> None:
    claims = setup.lab.signer.claims(setup.direct.resource(), iss=setup.direct.idp.issuer)
    refused(setup, forge_none(claims, idp_public_pem(setup.direct.idp)[1]), "not accepted")


def test_hs256_keyed_with_the_idp_public_key_is_refused(setup: Setup) -> None:
    pem, kid = idp_public_pem(setup.direct.idp)
    claims = setup.lab.signer.claims(setup.direct.resource(), iss=setup.direct.idp.issuer)
    refused(setup, forge_hs256(claims, pem, kid), "not accepted")


def test_a_tampered_payload_is_refused(setup: Setup) -> None:
    token = setup.direct.token("bob")
    refused(setup, tamper(token, groups=["admins"], email="carol@hospital.example"), "not valid")


def test_a_flood_of_unknown_kids_does_not_storm_the_idp(setup: Setup) -> None:
    idp = setup.direct.idp
    setup.direct.token("alice")  # the JWKS is fetched by now or at the first case below
    mcp(setup.direct.giru, "tools/list", token=setup.direct.token("alice"))
    before = idp.jwks_fetches()
    for _ in range(100):
        token = setup.lab.signer.token(
            setup.direct.resource(), iss=idp.issuer, kid=secrets.token_hex(8)
        )
        refused(setup, token, "signing key is unknown")
    assert idp.jwks_fetches() - before <= 1


def test_a_token_in_the_query_string_is_refused(setup: Setup) -> None:
    token = setup.direct.token("alice")
    SENT.append(token)
    response = mcp(setup.direct.giru, "tools/list", token=None, query=f"?access_token={token}")
    assert response.status_code == 400
    assert "not accepted in the URL" in response.json()["error"]["message"]


def test_api_keys_keep_working_on_the_same_endpoint(setup: Setup) -> None:
    assert mcp(setup.direct.giru, "tools/list", token=KEY).status_code == 200
    lab = setup.lab.signer.token(setup.direct.resource())
    assert mcp(setup.direct.giru, "tools/list", token=lab).status_code == 200


def test_no_token_reaches_the_log_or_the_audit_records(setup: Setup) -> None:
    assert len(SENT) > 100
    log = setup.direct.giru.log.read_text(errors="replace")
    pages: list[str] = []

    def audited() -> bool:
        response = httpx.get(
            setup.direct.giru.url("/api/v1/audit"),
            params={"limit": 500, "outcome": "unauthenticated"},
            headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert response.status_code == 200, response.text
        pages[:] = [json.dumps(response.json())]
        return len(response.json()["items"]) >= 100

    wait_until(audited, "the refusals are in the audit log")
    audit = pages[0]
    for token in SENT:
        signature = token.rsplit(".", 1)[-1] or token.split(".")[1]
        assert signature not in log
        assert signature not in audit
