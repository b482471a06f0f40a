"""A person's access token admitted at an endpoint is kept there with the principal it was
admitted as, until its `exp`: the next call skips verification and the principal's making, but
never the revocation check; a reload or another endpoint checks it again."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from giru.access.apikeys import KeyVerifier
from giru.access.clients import ClientDirectory, ClientPrincipal
from giru.identity import (
    REVOKED,
    AccessToken,
    Issuer,
    Person,
    PresentedToken,
    ProtectedResource,
    TokenVerifier,
)
from giru.proxy.admission import Admission, Refusal
from giru.proxy.bearers import AdmittedBearer, AdmittedBearers
from giru.proxy.endpoints import GLOBAL, Endpoint, Principal
from giru.telemetry.metrics import Metrics
from tests.tokens import Signer, SignerKeys
from tests.unit.proxy.fakes import FakeUpstream, gateway_client

ISSUER = "https://idp.example"
BASE = "https://giru.example"
GLOBAL_MCP = Endpoint(GLOBAL, (), auth="oauth")
WARD = Endpoint("ward", (), auth="oauth")


class People(ClientDirectory):
    """A directory with no clients that counts the principals it makes for people."""

    def __init__(self) -> None:
        super().__init__({}, (), (), KeyVerifier())
        self.made = 0

    def person(
        self, token: AccessToken, presented: PresentedToken | None = None
    ) -> ClientPrincipal:
        self.made += 1
        return super().person(token, presented)


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(ISSUER)


@pytest.fixture
def now() -> list[float]:
    return [time.time()]


@pytest.fixture
async def admission(signer: Signer, now: list[float]) -> AsyncIterator[Admission]:
    async with gateway_client({"one": FakeUpstream("one")}) as (_, gateway):
        admission = Admission(People(), Metrics(), gateway.dispatcher, clock=lambda: now[0])
        admission.resource = _resource(signer)
        yield admission


def _resource(signer: Signer) -> ProtectedResource:
    verifier = TokenVerifier(ISSUER, SignerKeys(signer), leeway_s=30)
    return ProtectedResource(BASE, {ISSUER: Issuer(verifier, ("mcp",))})


async def _call(admission: Admission, token: str, endpoint: Endpoint = GLOBAL_MCP) -> object:
    return await admission.decide(endpoint, "POST", b"", f"Bearer {token}", None, False)


def _people(admission: Admission) -> People:
    authenticator = admission.authenticator
    assert isinstance(authenticator, People)
    return authenticator


async def test_a_persons_next_call_is_admitted_as_the_principal_made_on_their_first(
    admission: Admission, signer: Signer
) -> None:
    token = signer.token(f"{BASE}/mcp")
    first = await _call(admission, token)
    again = await _call(admission, token)
    assert isinstance(first, ClientPrincipal)
    assert first.person is not None
    assert again is first
    assert first.person.label == "alice@hospital.example"
    assert first.agent == "mcp-test-client"
    assert first.presented is not None
    assert first.presented.value == token
    assert _people(admission).made == 1


async def test_a_kept_token_is_refused_on_the_next_call_once_its_person_is_revoked(
    admission: Admission, signer: Signer
) -> None:
    token = signer.token(f"{BASE}/mcp")
    assert isinstance(await _call(admission, token), ClientPrincipal)
    resource = admission.resource
    assert resource is not None
    resource.revocations.merge({"alice@hospital.example": time.time() + 1})

    refused = await _call(admission, token)

    assert isinstance(refused, Refusal)
    assert refused.status == 401
    assert REVOKED.encode() in refused.body


async def test_past_its_exp_a_kept_token_is_checked_again_not_served_from_the_kept_ones(
    admission: Admission, signer: Signer, now: list[float]
) -> None:
    exp = int(time.time()) + 300
    token = signer.token(f"{BASE}/mcp", exp=exp)
    assert isinstance(await _call(admission, token), ClientPrincipal)
    now[0] = exp  # the kept principal's end (the token itself is verified on the real clock)

    assert isinstance(await _call(admission, token), ClientPrincipal)

    assert _people(admission).made == 2


async def test_a_token_kept_at_one_endpoint_is_checked_again_at_another(
    admission: Admission, signer: Signer
) -> None:
    token = signer.token(f"{BASE}/mcp")
    assert isinstance(await _call(admission, token), ClientPrincipal)

    refused = await _call(admission, token, WARD)

    assert isinstance(refused, Refusal)
    assert refused.status == 401
    assert b"another resource" in refused.body


async def test_a_reload_makes_the_principal_again_with_the_new_grants(
    admission: Admission, signer: Signer
) -> None:
    token = signer.token(f"{BASE}/mcp")
    assert isinstance(await _call(admission, token), ClientPrincipal)
    admission.authenticator = People()
    assert isinstance(await _call(admission, token), ClientPrincipal)
    assert _people(admission).made == 1  # the new directory's own
    admission.resource = _resource(signer)
    assert isinstance(await _call(admission, token), ClientPrincipal)
    assert _people(admission).made == 2


def _bearer(token_id: str, expires_at: float) -> AdmittedBearer:
    person = Person(ISSUER, "sub")
    token = AccessToken(person, None, frozenset(), (), expires_at, token_id)
    principal: Principal = ClientPrincipal(name="user:sub", person=person)
    return AdmittedBearer(token, principal)


def test_admitted_bearers_are_kept_per_endpoint_until_exp_and_at_most_their_size() -> None:
    now = [1000.0]
    bearers = AdmittedBearers(2, clock=lambda: now[0])
    bearers.put(GLOBAL, _bearer("a", 1500))
    assert bearers.get("a", GLOBAL) is not None
    assert bearers.get("a", "ward") is None
    bearers.put(GLOBAL, _bearer("b", 2000))
    bearers.put("ward", _bearer("b", 2000))
    assert bearers.get("a", GLOBAL) is None  # the oldest went first
    now[0] = 2000.0
    assert bearers.get("b", GLOBAL) is None
    assert len(bearers) == 1
