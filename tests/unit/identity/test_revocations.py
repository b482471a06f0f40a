"""Revoked people: a token issued before its person's not-before is refused, cached or not."""

from __future__ import annotations

import time

import pytest

from giru.identity import (
    REVOKED,
    Issuer,
    ProtectedResource,
    Revocations,
    TokenError,
    TokenVerifier,
)
from tests.tokens import Signer, SignerKeys

ISSUER = "https://idp.example"
BASE = "https://giru.example"
RESOURCE = f"{BASE}/mcp"


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(ISSUER)


def _resource(signer: Signer, revocations: Revocations) -> ProtectedResource:
    verifier = TokenVerifier(ISSUER, SignerKeys(signer), leeway_s=30)
    return ProtectedResource(BASE, {ISSUER: Issuer(verifier)}, revocations=revocations)


async def test_a_cached_token_issued_before_a_revocation_is_refused_at_once(
    signer: Signer,
) -> None:
    revocations = Revocations()
    resource = _resource(signer, revocations)
    now = time.time()
    token = signer.token(RESOURCE, iat=int(now) - 10)
    assert (await resource.authenticate(token, ["/mcp"])).person.label == "alice@hospital.example"

    revocations.merge({"alice@hospital.example": now})

    with pytest.raises(TokenError, match="revoked by an administrator"):
        await resource.authenticate(token, ["/mcp"])
    later = signer.token(RESOURCE, iat=now + 1)
    assert (await resource.authenticate(later, ["/mcp"])).issued_at == now + 1
    bob = signer.token(RESOURCE, iat=int(now) - 10, email="bob@hospital.example")
    assert (await resource.authenticate(bob, ["/mcp"])).person.email == "bob@hospital.example"


async def test_a_token_without_iat_is_refused_once_its_person_is_revoked(signer: Signer) -> None:
    revocations = Revocations({"alice@hospital.example": time.time() - 3600})
    resource = _resource(signer, revocations)
    with pytest.raises(TokenError) as refused:
        await resource.authenticate(signer.token(RESOURCE, iat=None), ["/mcp"])
    assert str(refused.value) == REVOKED


async def test_the_revocation_is_checked_before_the_scope(signer: Signer) -> None:
    verifier = TokenVerifier(ISSUER, SignerKeys(signer), leeway_s=30)
    revocations = Revocations({"alice@hospital.example": time.time()})
    resource = ProtectedResource(
        BASE, {ISSUER: Issuer(verifier, ("admin",))}, revocations=revocations
    )
    token = signer.token(RESOURCE, iat=int(time.time()) - 10)
    with pytest.raises(TokenError) as refused:  # 401 invalid_token, not 403 step-up
        await resource.authenticate(token, ["/mcp"])
    assert str(refused.value) == REVOKED


def test_people_are_matched_without_regard_to_case_and_not_befores_only_move_forward() -> None:
    revocations = Revocations({"Alice@Hospital.example": 200.0})
    revocations.merge({"alice@hospital.example": 100.0})  # a stale reload
    assert revocations.not_before("ALICE@hospital.example") == 200.0
    revocations.merge({"alice@hospital.example": 300.0})
    assert revocations.not_before("alice@hospital.example") == 300.0
    assert revocations.not_before("bob@hospital.example") is None
    assert len(revocations) == 1


async def test_a_token_admitted_at_an_endpoint_is_refused_there_once_its_person_is_revoked(
    signer: Signer,
) -> None:
    revocations = Revocations()
    resource = _resource(signer, revocations)
    now = time.time()
    token = signer.token(RESOURCE, iat=int(now) - 10)
    first = await resource.authenticate(token, ("/mcp", "/sse"))
    assert await resource.authenticate(token, ("/mcp", "/sse")) is first  # admitted: kept

    revocations.merge({"alice@hospital.example": now})

    with pytest.raises(TokenError, match="revoked by an administrator"):
        await resource.authenticate(token, ("/mcp", "/sse"))


async def test_a_token_admitted_at_one_endpoint_is_still_checked_at_another(
    signer: Signer,
) -> None:
    resource = _resource(signer, Revocations())
    token = signer.token(RESOURCE)
    await resource.authenticate(token, ("/mcp", "/sse"))
    with pytest.raises(TokenError, match="another resource"):
        await resource.authenticate(token, ("/mcp/other", "/mcp/other/sse"))
