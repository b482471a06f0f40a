"""Checking a JWT access token: signature, algorithm, issuer, audience, lifetime, scopes.

A token is refused unless: it is a compact JWS of at most `MAX_TOKEN_BYTES`; its header names
an allowed asymmetric algorithm (RS256, PS256, ES256, EdDSA: never `none`, never HMAC) that fits
the key its `kid` names at the issuer; the signature verifies; `iss` is the issuer exactly; `exp`
is in the future and `nbf`/`iat` not (both with `leeway_s`); it names a person (`sub`); and its
`aud` is exactly the resource URL of the endpoint it is presented at (or the IdentityProvider's
fixed `audience`). A token verified once is kept by the SHA-256 of its text until its `exp`, so a
client presenting it again costs a dictionary lookup and the audience and scope checks.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import jwt
from jwt import PyJWK
from jwt.exceptions import InvalidTokenError

from giru.identity.jwks import KeySource, UnknownKeyError
from giru.identity.people import ClaimsError, Person, person_from_claims
from giru.manifests.documents import IdentityClaims

__all__ = [
    "ALGORITHMS",
    "MAX_TOKEN_BYTES",
    "AccessToken",
    "AdmittedTokens",
    "InsufficientScopeError",
    "PresentedToken",
    "TokenCache",
    "TokenError",
    "TokenVerifier",
    "looks_like_jwt",
    "token_from_claims",
    "token_hash",
    "unverified_issuer",
]

ALGORITHMS: Final = frozenset({"RS256", "PS256", "ES256", "EdDSA"})
MAX_TOKEN_BYTES: Final = 16 * 1024
_FAMILIES: Final = {"RS256": "RSA", "PS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}


class TokenError(Exception):
    """The token is not valid here; the message is safe to show the client (no token text)."""


class InsufficientScopeError(TokenError):
    """A valid token that lacks a scope the endpoint requires (403, step-up)."""


def token_hash(token: str) -> str:
    """How a token is named in logs, audit records and caches: never its text."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A verified access token: the person, the OAuth client acting for them, what it grants."""

    person: Person
    client_id: str | None
    scopes: frozenset[str]
    audiences: tuple[str, ...]
    expires_at: float
    token_id: str
    """`token_hash` of the token."""
    issued_at: float | None = None
    """`iat`, when the token has one (revocation compares it with the person's not-before)."""

    def check(self, resources: Collection[str], required_scopes: Collection[str]) -> None:
        """`TokenError` unless the token was minted for one of `resources` (exact match),
        `InsufficientScopeError` unless it carries every one of `required_scopes`."""
        if not any(audience in resources for audience in self.audiences):
            raise TokenError("the token was issued for another resource (aud)")
        if not self.scopes.issuperset(required_scopes):
            raise InsufficientScopeError("the token lacks a required scope")


@dataclass(frozen=True, slots=True)
class PresentedToken:
    """The access token a request presented, once verified: what a `token-exchange` upstream's
    exchange sends to the identity provider as its `subject_token`. Its text is never logged
    nor shown (`repr` leaves it out); caches name it by `token_id`."""

    value: str = field(repr=False)
    token_id: str
    """`token_hash` of the token."""
    expires_at: float
    issued_by_gateway: bool = False
    """Giru issued it (broker mode): the identity provider cannot exchange it."""


def looks_like_jwt(token: str) -> bool:
    """A compact JWS (`header.payload.signature`, base64url JSON header): anything else is an
    opaque token (or an API key, which never has dots)."""
    return token.count(".") == 2 and token.startswith("eyJ")


def unverified_issuer(token: str) -> str | None:
    """The `iss` a token claims, read without verifying it (to pick the verifier)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except InvalidTokenError:
        return None
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None


class TokenVerifier:
    """Checks the tokens of one issuer whose keys come from `keys`."""

    def __init__(
        self,
        issuer: str,
        keys: KeySource,
        *,
        claims: IdentityClaims | None = None,
        leeway_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.keys = keys
        self._claims = claims or IdentityClaims()
        self._leeway = leeway_s
        self._clock = clock

    async def verify(self, token: str) -> AccessToken:
        """The token's content once its signature, issuer and lifetime check out (the audience
        and scopes are checked per endpoint by `AccessToken.check`)."""
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenError("the token is too large")
        header = _header(token)
        key = await self._key(header)
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[header["alg"]],
                issuer=self.issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("the token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise TokenError("the token is not valid yet") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenError("the token is from another issuer") from exc
        except InvalidTokenError as exc:
            raise TokenError(f"the token is not valid ({type(exc).__name__})") from exc
        return self._access_token(token, claims)

    async def _key(self, header: dict[str, Any]) -> PyJWK:
        try:
            key = await self.keys.key(header["kid"])
        except UnknownKeyError as exc:
            raise TokenError("the token's signing key is unknown") from exc
        algorithm = header["alg"]
        curve = getattr(getattr(key.key, "curve", None), "name", None)
        if key.key_type != _FAMILIES[algorithm] or (algorithm == "ES256" and curve != "secp256r1"):
            raise TokenError("the token's algorithm does not fit its signing key")
        return key

    def _access_token(self, token: str, claims: dict[str, Any]) -> AccessToken:
        now = self._clock()
        issued = claims.get("iat")
        if isinstance(issued, int | float) and issued > now + self._leeway:
            raise TokenError("the token is not valid yet")
        return token_from_claims(self.issuer, claims, self._claims, token_hash(token))


def token_from_claims(
    issuer: str, claims: dict[str, Any], mapping: IdentityClaims, token_id: str
) -> AccessToken:
    """The access token `claims` describe (a JWT's payload, or an introspection answer), once
    its issuer and lifetime are checked: the person, the client, the audiences and scopes."""
    try:
        person = person_from_claims(issuer, claims, mapping)
    except ClaimsError as exc:
        raise TokenError(f"the token does not name a person ({exc})") from exc
    audience = claims.get("aud") or []
    audiences = (audience,) if isinstance(audience, str) else audience
    if not isinstance(audiences, tuple | list) or not all(isinstance(a, str) for a in audiences):
        raise TokenError("the token's aud is not a string or a list of strings")
    client_id = claims.get("client_id", claims.get("azp"))
    issued = claims.get("iat")
    scope = claims.get("scope", claims.get("scp", ""))
    scopes = scope.split() if isinstance(scope, str) else scope
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise TokenError("the token's scope is not a string")
    return AccessToken(
        person=person,
        client_id=client_id if isinstance(client_id, str) else None,
        scopes=frozenset(scopes),
        audiences=tuple(audiences),
        expires_at=float(claims["exp"]),
        token_id=token_id,
        issued_at=float(issued) if isinstance(issued, int | float) else None,
    )


def _header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except InvalidTokenError as exc:
        raise TokenError("the token is not a JWT") from exc
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise TokenError(f"the token's algorithm is not accepted ({str(algorithm)[:20]})")
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise TokenError("the token names no signing key (kid)")
    return header


class TokenCache:
    """Verified tokens by hash until they expire; at most `size`, the oldest dropped first."""

    def __init__(self, size: int, clock: Callable[[], float] = time.time) -> None:
        self._size = size
        self._clock = clock
        self._tokens: OrderedDict[str, AccessToken] = OrderedDict()

    def get(self, token_id: str) -> AccessToken | None:
        found = self._tokens.get(token_id)
        if found is not None and found.expires_at <= self._clock():
            del self._tokens[token_id]
            return None
        return found

    def put(self, token: AccessToken) -> None:
        if self._size == 0:
            return
        self._tokens[token.token_id] = token
        while len(self._tokens) > self._size:
            self._tokens.popitem(last=False)

    def __len__(self) -> int:
        return len(self._tokens)


class AdmittedTokens:
    """Verified tokens found valid at an endpoint (its audience and scope checks passed), by
    token hash and the endpoint's resource paths, until they expire; at most `size`, the oldest
    dropped first. The revocation check is not kept: it runs on every call."""

    def __init__(self, size: int, clock: Callable[[], float] = time.time) -> None:
        self._size = size
        self._clock = clock
        self._tokens: OrderedDict[tuple[str, tuple[str, ...]], AccessToken] = OrderedDict()

    def get(self, token_id: str, paths: Sequence[str]) -> AccessToken | None:
        key = (token_id, tuple(paths))
        found = self._tokens.get(key)
        if found is not None and found.expires_at <= self._clock():
            del self._tokens[key]
            return None
        return found

    def put(self, token: AccessToken, paths: tuple[str, ...]) -> None:
        if self._size == 0:
            return
        self._tokens[(token.token_id, paths)] = token
        while len(self._tokens) > self._size:
            self._tokens.popitem(last=False)

    def __len__(self) -> int:
        return len(self._tokens)
