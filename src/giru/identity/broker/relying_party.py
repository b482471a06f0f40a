"""Sign-in at the company IdP over OIDC: authorization code + PKCE + nonce, ID token checked.

Giru is the IdP's confidential client; its redirect URI there is
`<GIRU_PUBLIC_URL>/oauth/idp/callback`. The ID token's signature is checked with the IdP's JWKS
(fetched at discovery, fetched again on an unknown `kid` at most every 30 s), with an asymmetric
algorithm the IdP advertises (never `none`, never HMAC), and its `iss`, `aud`, `azp`, `nonce`,
`exp` and `iat`. Claims the ID token lacks are read from the userinfo endpoint.

When the IdP offers `offline_access` (its discovery's `scopes_supported`), Giru asks for it (with
`prompt=consent`, OIDC Core §11) and keeps the IdP's refresh token: each refresh at Giru refreshes
there first and re-reads the person (groups, email, `amr`, `auth_time`), so a person moved to
another group at the IdP sees the new set after their next refresh, and one the IdP no longer
accepts loses access.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, urlencode

import aiohttp
import jwt
import orjson
import structlog

from giru.errors import GiruError
from giru.identity.broker.pkce import challenge_of
from giru.identity.people import ClaimsError, Person, person_from_claims
from giru.manifests.documents import IdentityClaims

__all__ = ["IdpConfig", "RelyingParty", "SignIn", "SignInError"]

_ASYMMETRIC: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_DISCOVERY_TTL_S: Final = 3600.0
_JWKS_REFETCH_S: Final = 30.0
_LEEWAY_S: Final = 60
_MAX_BODY: Final = 1 << 20
_log = structlog.get_logger(__name__)


class SignInError(GiruError):
    """The IdP refused the sign-in, or answered something Giru does not accept."""

    code = "idp_sign_in_failed"


@dataclass(frozen=True, slots=True)
class IdpConfig:
    """The company IdP as Giru's OIDC client sees it."""

    issuer: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    claims: IdentityClaims = field(default_factory=IdentityClaims)


@dataclass(frozen=True, slots=True)
class SignIn:
    """A person signed in (or refreshed) at the IdP, and the IdP's refresh token if it gave one.
    A refresh also keeps the IdP's access token and its lifetime (what a `token-exchange`
    upstream exchanges for a person signed in through the broker); `repr` leaves tokens out."""

    person: Person
    refresh_token: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    expires_in: float | None = None


_OFFLINE: Final = "offline_access"


class RelyingParty:
    """Giru's OIDC client of one IdP; `http` is owned by the caller."""

    def __init__(
        self,
        config: IdpConfig,
        http: aiohttp.ClientSession,
        *,
        redirect_uri: str,
        timeout_s: float = 10.0,
    ) -> None:
        self.config = config
        self.redirect_uri = redirect_uri
        self._http = http
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._discovery: dict[str, Any] | None = None
        self._discovered_at = float("-inf")
        self._jwks: jwt.PyJWKSet | None = None
        self._jwks_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _get_json(self, url: str, headers: Mapping[str, str] | None = None) -> Any:
        try:
            async with self._http.get(
                url, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                body = await response.content.read(_MAX_BODY)
                if response.status != 200:
                    raise SignInError(f"the IdP answered {response.status} at {url}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SignInError(f"the IdP cannot be reached ({type(exc).__name__})") from exc
        try:
            return orjson.loads(body)
        except ValueError as exc:
            raise SignInError(f"the IdP answered no JSON at {url}") from exc

    async def discovery(self) -> dict[str, Any]:
        """The IdP's OpenID configuration (cached an hour); its `issuer` must be ours exactly."""
        async with self._lock:
            if self._discovery is None or time.monotonic() - self._discovered_at > _DISCOVERY_TTL_S:
                url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
                document = await self._get_json(url)
                if not isinstance(document, dict) or document.get("issuer") != self.config.issuer:
                    raise SignInError("the IdP's discovery document names another issuer")
                for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                    if not isinstance(document.get(key), str):
                        raise SignInError(f"the IdP's discovery document has no {key}")
                self._discovery, self._discovered_at = document, time.monotonic()
            return self._discovery

    def _scopes(self, discovery: Mapping[str, Any]) -> list[str]:
        """The configured scopes, and `offline_access` when the IdP offers it."""
        scopes = list(dict.fromkeys(self.config.scopes))
        offered = discovery.get("scopes_supported")
        if _OFFLINE not in scopes and isinstance(offered, list) and _OFFLINE in offered:
            scopes.append(_OFFLINE)
        return scopes

    async def authorization_url(self, *, state: str, nonce: str, verifier: str) -> str:
        discovery = await self.discovery()
        scopes = self._scopes(discovery)
        query = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": " ".join(scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge_of(verifier),
            "code_challenge_method": "S256",
        }
        if _OFFLINE in scopes:  # OIDC Core §11: offline access is asked with prompt=consent
            query["prompt"] = "consent"
        endpoint = str(discovery["authorization_endpoint"])
        separator = "&" if "?" in endpoint else "?"
        return endpoint + separator + urlencode(query)

    async def sign_in(self, *, code: str, verifier: str, nonce: str) -> SignIn:
        """Exchange the IdP's code: the person its ID token names, and its refresh token."""
        discovery = await self.discovery()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": verifier,
        }
        tokens = await self._token(discovery, form, "the code")
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise SignInError("the IdP returned no ID token")
        claims = await self._with_userinfo(
            discovery, await self._verified(discovery, id_token, nonce), tokens
        )
        return SignIn(self._person(claims), _refresh_token(tokens))

    async def refresh(self, refresh_token: str, person: Person) -> SignIn:
        """Refresh at the IdP and re-read the person (OIDC Core §12): the refreshed ID token (or
        userinfo) must name the same subject. `SignInError` when the IdP refuses."""
        discovery = await self.discovery()
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        tokens = await self._token(discovery, form, "the refresh token")
        id_token = tokens.get("id_token")
        claims: dict[str, Any] = {"sub": person.subject}
        if isinstance(id_token, str):
            claims = await self._verified(discovery, id_token, None)
        claims = await self._with_userinfo(discovery, claims, tokens)
        if claims.get("sub") != person.subject:
            raise SignInError("the IdP's refreshed tokens name another subject")
        refreshed = self._person(claims, sign_in=False)
        refreshed = dataclasses.replace(
            refreshed,
            amr=refreshed.amr or person.amr,
            auth_time=refreshed.auth_time or person.auth_time,
        )
        access, lifetime = tokens.get("access_token"), tokens.get("expires_in")
        return SignIn(
            refreshed,
            _refresh_token(tokens) or refresh_token,
            access if isinstance(access, str) and access else None,
            float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else None,
        )

    async def _with_userinfo(
        self, discovery: Mapping[str, Any], claims: dict[str, Any], tokens: Mapping[str, Any]
    ) -> dict[str, Any]:
        access_token = tokens.get("access_token")
        userinfo = discovery.get("userinfo_endpoint")
        if isinstance(access_token, str) and isinstance(userinfo, str) and self._lacks(claims):
            extra = await self._get_json(userinfo, {"Authorization": f"Bearer {access_token}"})
            if isinstance(extra, dict) and extra.get("sub") == claims["sub"]:
                claims = {**extra, **claims}
        return claims

    async def _token(
        self, discovery: Mapping[str, Any], form: dict[str, str], what: str
    ) -> dict[str, Any]:
        methods = discovery.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
        headers = {"Accept": "application/json"}
        if "client_secret_basic" in methods:  # RFC 6749 §2.3.1: each part form-encoded first
            client_id, secret = self.config.client_id, self.config.client_secret
            pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form |= {"client_id": self.config.client_id, "client_secret": self.config.client_secret}
        try:
            async with self._http.post(
                str(discovery["token_endpoint"]),
                data=form,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                body = await response.content.read(_MAX_BODY)
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SignInError(f"the IdP's token endpoint failed ({type(exc).__name__})") from exc
        try:
            tokens = orjson.loads(body)
        except ValueError as exc:
            raise SignInError("the IdP's token endpoint answered no JSON") from exc
        if status != 200 or not isinstance(tokens, dict):
            error = tokens.get("error") if isinstance(tokens, dict) else None
            raise SignInError(f"the IdP refused {what} ({str(error)[:64]})")
        return tokens

    async def _key(self, discovery: Mapping[str, Any], kid: str | None) -> jwt.PyJWK:
        for refetch in (False, True):
            if refetch and time.monotonic() - self._jwks_at < _JWKS_REFETCH_S:
                break
            if self._jwks is None or refetch:
                document = await self._get_json(str(discovery["jwks_uri"]))
                try:
                    self._jwks = jwt.PyJWKSet.from_dict(document)
                except jwt.PyJWKError as exc:
                    raise SignInError("the IdP's JWKS cannot be read") from exc
                self._jwks_at = time.monotonic()
            for key in self._jwks.keys:
                if kid is None or key.key_id == kid:
                    return key
        raise SignInError("the ID token is signed with a key the IdP does not publish")

    async def _verified(
        self, discovery: Mapping[str, Any], token: str, nonce: str | None
    ) -> dict[str, Any]:
        """The ID token's claims once checked; `nonce` None for a refreshed ID token (OIDC Core
        §12.2: the sign-in's nonce is not sent again)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise SignInError("the ID token is not a JWT") from exc
        advertised = set(discovery.get("id_token_signing_alg_values_supported", ["RS256"]))
        algorithm = header.get("alg")
        if algorithm not in _ASYMMETRIC or algorithm not in advertised:
            raise SignInError(f"the ID token's algorithm is not accepted ({str(algorithm)[:16]})")
        key = await self._key(discovery, header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.config.client_id,
                issuer=self.config.issuer,
                leeway=_LEEWAY_S,
                options={"require": ["iss", "aud", "sub", "exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            raise SignInError(f"the ID token is not valid: {exc}"[:200]) from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.config.client_id:
            raise SignInError("the ID token was issued to another party (azp)")
        if nonce is not None and (
            not isinstance(claims.get("nonce"), str) or claims["nonce"] != nonce
        ):
            raise SignInError("the ID token's nonce is not this sign-in's")
        return claims

    def _lacks(self, claims: Mapping[str, Any]) -> bool:
        mapping = self.config.claims
        return any(claim not in claims for claim in (mapping.email, mapping.name, mapping.groups))

    def _person(self, claims: Mapping[str, Any], *, sign_in: bool = True) -> Person:
        """The person the checked claims name (the IdP's `auth_time`, else at a sign-in the
        token's `iat`)."""
        try:
            person = person_from_claims(self.config.issuer, claims, self.config.claims)
        except ClaimsError as exc:
            raise SignInError(f"the ID token does not describe a person: {exc}"[:200]) from exc
        if person.auth_time is None and sign_in:
            issued = claims.get("iat")
            when = int(issued) if isinstance(issued, (int, float)) else int(time.time())
            person = dataclasses.replace(person, auth_time=when)
        return person


def _refresh_token(tokens: Mapping[str, Any]) -> str | None:
    value = tokens.get("refresh_token")
    return value if isinstance(value, str) and value else None
