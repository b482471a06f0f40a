"""Access-token checks: signature, algorithm allow-list, issuer, audience, lifetime, claims."""

from __future__ import annotations

import time
from typing import Any

import pytest

from giru.identity import (
    AccessToken,
    InsufficientScopeError,
    TokenError,
    TokenVerifier,
    token_hash,
)
from giru.identity.tokens import AdmittedTokens, TokenCache
from giru.manifests.documents import IdentityClaims
from tests.tokens import Signer, SignerKeys, forge_hs256, forge_none, tamper

ISSUER = "https://idp.example"
RESOURCE = "https://giru.example/mcp"


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(ISSUER)


@pytest.fixture
def verifier(signer: Signer) -> TokenVerifier:
    return TokenVerifier(ISSUER, SignerKeys(signer), leeway_s=30)


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
async def test_a_token_signed_with_an_allowed_algorithm_names_the_person_and_the_client(
    signer: Signer, verifier: TokenVerifier, alg: str
) -> None:
    token = signer.token(RESOURCE, alg=alg)
    verified = await verifier.verify(token)
    verified.check([RESOURCE], [])
    assert verified.person.subject == "sub-alice"
    assert verified.person.email == "alice@hospital.example"
    assert verified.person.groups == ("nurses",)
    assert verified.person.amr == ("pwd", "otp")
    assert verified.person.label == "alice@hospital.example"
    assert verified.client_id == "mcp-test-client"
    assert verified.scopes == {"mcp"}
    assert verified.token_id == token_hash(token)
    assert token not in repr(verified)


def _bad(signer: Signer) -> list[tuple[str, Any]]:
    kid = signer.keys["RS256"][0]
    valid = signer.claims(RESOURCE)
    return [
        ("expired", lambda: signer.token(RESOURCE, exp=int(time.time()) - 120)),
        ("not valid yet", lambda: signer.token(RESOURCE, nbf=int(time.time()) + 600)),
        ("not valid yet", lambda: signer.token(RESOURCE, iat=int(time.time()) + 600)),
        ("another issuer", lambda: signer.token(RESOURCE, iss="https://evil.example")),
        ("algorithm is not accepted", lambda: forge_none(valid, kid)),
        ("algorithm is not accepted", lambda: forge_hs256(valid, signer.public_pem(), kid)),
        ("not valid", lambda: tamper(signer.token(RESOURCE), groups=["admins"])),
        ("signing key is unknown", lambda: signer.token(RESOURCE, kid="made-up")),
        ("names no signing key", lambda: signer.token(RESOURCE, headers={"kid": ""})),
        ("not a JWT", lambda: "not.a.jwt"),
        ("does not fit its signing key", lambda: signer.token(RESOURCE, alg="ES256", kid=kid)),
        ("not valid", lambda: signer.token(RESOURCE, exp=None)),
        ("does not name a person", lambda: signer.token(RESOURCE, groups="x" * 400)),
        ("too large", lambda: signer.token(RESOURCE, padding="x" * 20_000)),
    ]


@pytest.mark.parametrize("case", range(14))
async def test_a_bad_token_is_refused_with_a_reason(
    signer: Signer, verifier: TokenVerifier, case: int
) -> None:
    reason, make = _bad(signer)[case]
    with pytest.raises(TokenError, match=reason):
        await verifier.verify(make())


async def test_the_audience_must_be_exactly_the_endpoint_resource(
    signer: Signer, verifier: TokenVerifier
) -> None:
    for audience in ("https://giru.example/mcp/other", "https://giru.example/mcp/", "giru"):
        verified = await verifier.verify(signer.token(audience))
        with pytest.raises(TokenError, match="another resource"):
            verified.check([RESOURCE], [])
    listed = await verifier.verify(signer.token(["https://x.example", RESOURCE]))
    listed.check([RESOURCE], [])


async def test_a_missing_required_scope_is_insufficient_scope(
    signer: Signer, verifier: TokenVerifier
) -> None:
    verified = await verifier.verify(signer.token(RESOURCE, scope="openid"))
    with pytest.raises(InsufficientScopeError):
        verified.check([RESOURCE], ["mcp"])


async def test_the_claims_mapping_reads_the_idp_names(signer: Signer) -> None:
    mapping = IdentityClaims(subject="oid", email="upn", groups="roles")
    verifier = TokenVerifier(ISSUER, SignerKeys(signer), claims=mapping)
    token = signer.token(RESOURCE, oid="o-1", upn="a@corp.example", roles=["nurses"], groups=None)
    person = (await verifier.verify(token)).person
    assert (person.subject, person.email, person.groups) == ("o-1", "a@corp.example", ("nurses",))


def _access(token_id: str, expires_at: float) -> AccessToken:
    verified = AccessToken.__new__(AccessToken)
    object.__setattr__(verified, "token_id", token_id)
    object.__setattr__(verified, "expires_at", expires_at)
    return verified


def test_the_cache_forgets_expired_tokens_and_keeps_at_most_its_size() -> None:
    now = [1000.0]
    cache = TokenCache(2, clock=lambda: now[0])
    cache.put(_access("a", 1010))
    cache.put(_access("b", 2000))
    cache.put(_access("c", 2000))
    assert cache.get("a") is None  # the oldest went first
    assert cache.get("b") is not None
    now[0] = 2000.0
    assert cache.get("b") is None
    assert len(cache) == 1


def test_admitted_tokens_are_kept_per_endpoint_paths_until_they_expire() -> None:
    now = [1000.0]
    admitted = AdmittedTokens(2, clock=lambda: now[0])
    admitted.put(_access("a", 1500), ("/mcp", "/sse"))
    assert admitted.get("a", ("/mcp", "/sse")) is not None
    assert admitted.get("a", ("/mcp/other", "/mcp/other/sse")) is None  # checked there apart
    admitted.put(_access("b", 2000), ("/mcp", "/sse"))
    admitted.put(_access("c", 2000), ("/mcp", "/sse"))
    assert admitted.get("a", ("/mcp", "/sse")) is None  # the oldest went first
    now[0] = 2000.0
    assert admitted.get("b", ("/mcp", "/sse")) is None
    assert len(admitted) == 1
