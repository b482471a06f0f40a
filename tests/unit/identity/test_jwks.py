"""The remote JWKS: discovery, caching, refetch on an unknown kid without a refetch storm."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from giru.identity import DocumentError, RemoteJwks, UnknownKeyError
from giru.identity.jwks import parse_jwks
from tests.tokens import Signer

ISSUER = "https://idp.example"
JWKS_URI = "https://idp.example/keys"


class Idp:
    """Serves the discovery document and the JWKS; counts what it is asked."""

    def __init__(self, signer: Signer) -> None:
        self.jwks: dict[str, Any] = signer.jwks()
        self.requests: list[str] = []
        self.down = False

    async def fetch(self, url: str) -> Any:
        self.requests.append(url)
        await asyncio.sleep(0)  # yield, as a real request would
        if self.down:
            raise DocumentError(f"{url}: ClientConnectorError")
        if url == f"{ISSUER}/.well-known/openid-configuration":
            return {"issuer": ISSUER, "jwks_uri": JWKS_URI}
        if url == JWKS_URI:
            return self.jwks
        raise DocumentError(f"{url} answered 404")

    @property
    def jwks_fetches(self) -> int:
        return self.requests.count(JWKS_URI)


@pytest.fixture
def signer() -> Signer:
    return Signer(ISSUER)


async def test_the_jwks_uri_is_discovered_and_keys_are_cached(signer: Signer) -> None:
    idp = Idp(signer)
    jwks = RemoteJwks(ISSUER, idp.fetch)
    kid = signer.keys["RS256"][0]
    assert (await jwks.key(kid)).key_type == "RSA"
    assert (await jwks.key(kid)).key_type == "RSA"
    assert idp.requests == [f"{ISSUER}/.well-known/openid-configuration", JWKS_URI]


async def test_a_flood_of_unknown_kids_fetches_the_jwks_once_per_interval(signer: Signer) -> None:
    idp = Idp(signer)
    now = [0.0]
    jwks = RemoteJwks(ISSUER, idp.fetch, jwks_uri=JWKS_URI, refetch_min_s=30, clock=lambda: now[0])
    await jwks.key(signer.keys["ES256"][0])

    async def unknown(i: int) -> None:
        with pytest.raises(UnknownKeyError):
            await jwks.key(f"made-up-{i}")

    now[0] = 31.0
    await asyncio.gather(*(unknown(i) for i in range(500)))
    assert idp.jwks_fetches == 2  # the first fetch, and one refetch for the whole flood
    await asyncio.gather(*(unknown(i) for i in range(500)))
    assert idp.jwks_fetches == 2


async def test_a_rotated_key_is_found_by_refetching(signer: Signer) -> None:
    idp = Idp(signer)
    now = [0.0]
    jwks = RemoteJwks(ISSUER, idp.fetch, jwks_uri=JWKS_URI, refetch_min_s=30, clock=lambda: now[0])
    await jwks.key(signer.keys["RS256"][0])
    rotated = Signer(ISSUER)
    idp.jwks = rotated.jwks()
    now[0] = 45.0
    assert (await jwks.key(rotated.keys["EdDSA"][0])).key_type == "OKP"


async def test_a_failed_refetch_keeps_the_keys_it_had(signer: Signer) -> None:
    idp = Idp(signer)
    now = [0.0]
    jwks = RemoteJwks(ISSUER, idp.fetch, jwks_uri=JWKS_URI, cache_s=60, clock=lambda: now[0])
    kid = signer.keys["RS256"][0]
    await jwks.key(kid)
    idp.down = True
    now[0] = 120.0
    assert (await jwks.key(kid)).key_type == "RSA"


async def test_a_discovery_document_for_another_issuer_is_refused(signer: Signer) -> None:
    idp = Idp(signer)
    jwks = RemoteJwks("https://other.example", idp.fetch)
    with pytest.raises(UnknownKeyError):
        await jwks.key(signer.keys["RS256"][0])
    assert JWKS_URI not in idp.requests


def test_private_symmetric_and_encryption_keys_are_left_out(signer: Signer) -> None:
    keys = signer.jwks()["keys"]
    rsa = keys[0]
    document = {
        "keys": [
            {**rsa, "kid": "private", "d": "AAAA"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {**rsa, "kid": "enc", "use": "enc"},
            {**rsa, "kid": None},
            "junk",
            rsa,
        ]
    }
    assert list(parse_jwks(document)) == [rsa["kid"]]
    with pytest.raises(DocumentError):
        parse_jwks({"nokeys": []})
