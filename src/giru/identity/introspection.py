"""Opaque access tokens checked at the IdP's introspection endpoint (RFC 7662), direct mode.

A bearer token that is not a JWT is posted to the endpoint (from the manifest, else the
`introspection_endpoint` of the issuer's discovery document) with Giru's client credentials,
over the SSRF-guarded egress, bounded in time and size (`FormPost`). The answer is held to what a
JWT is held to: `active: true`, `iss` (when given) the issuer exactly, `exp` in the future and
`nbf`/`iat` not (with leeway), a person (`sub`), a bearer token (no `token_type` other than
Bearer, no `cnf` key binding); the audience and scopes are checked per endpoint by
`AccessToken.check`, so an answer for another resource is refused.

Positive answers are kept by the token's SHA-256 until min(`exp`, `cache_max_s` from now), so a
token revoked at the IdP is refused within `cache_max_s`; refusals are kept `negative_s`. An
endpoint that is down, slow, answers an error or no valid JSON makes the check fail closed with
`IntrospectionUnavailableError` (Giru answers 503), never a wait longer than the POST's timeout.
"""

from __future__ import annotations

import base64
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote

import structlog

from giru.identity.documents import DocumentError, FormPost, JsonFetch
from giru.identity.jwks import discovery_urls
from giru.identity.tokens import (
    MAX_TOKEN_BYTES,
    AccessToken,
    TokenError,
    token_from_claims,
    token_hash,
)
from giru.manifests.config import IntrospectionConfig
from giru.manifests.identity import IdentityClaims

__all__ = ["MAX_ANSWER_BYTES", "Introspection", "IntrospectionUnavailableError"]

_log = structlog.get_logger(__name__)
MAX_ANSWER_BYTES: Final = 64 * 1024
_IN_FLIGHT_MAX: Final = 64
_DISCOVERY_RETRY_S: Final = 10.0
_BEARER: Final = frozenset({"bearer", "access_token"})


class IntrospectionUnavailableError(TokenError):
    """The IdP could not say whether the token is active (down, slow, an error or no valid
    answer): nothing is granted, and the caller may retry (503, not 401)."""


class _Kept:
    """Answers by token hash until a deadline, at most `size`, the oldest dropped first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, tuple[float, AccessToken | str]] = OrderedDict()

    def get(self, token_id: str, now: float) -> AccessToken | str | None:
        found = self._items.get(token_id)
        if found is None:
            return None
        if found[0] <= now:
            del self._items[token_id]
            return None
        return found[1]

    def put(self, token_id: str, until: float, answer: AccessToken | str) -> None:
        if self._size == 0:
            return
        self._items[token_id] = (until, answer)
        while len(self._items) > self._size:
            self._items.popitem(last=False)


class Introspection:
    """Checks the opaque access tokens of one issuer (see the module docstring)."""

    def __init__(
        self,
        issuer: str,
        config: IntrospectionConfig,
        http: tuple[JsonFetch, FormPost],
        *,
        claims: IdentityClaims | None = None,
        timing: tuple[float, float, float] = (30.0, 60.0, 10.0),
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`http`: (discovery GET, introspection POST); `timing`: (leeway, longest a positive
        answer is kept, how long a refusal is kept), in seconds."""
        self.issuer = issuer
        self.config = config
        self._fetch, self._post = http
        self.claims = claims or IdentityClaims()
        self._leeway, self._cache_max_s, self._negative_s = timing
        self._answers = _Kept(cache_size)
        self._clock = clock
        self._endpoint = config.endpoint
        self._discovery_failed_at: float | None = None
        self._in_flight = 0
        self.requests = 0
        """Introspection requests made (for metrics and tests)."""

    async def verify(self, token: str) -> AccessToken:
        """The token as the IdP describes it; `TokenError` when it is not active or not
        acceptable, `IntrospectionUnavailableError` when the IdP cannot tell."""
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenError("the token is too large")
        token_id = token_hash(token)
        kept = self._answers.get(token_id, self._clock())
        if isinstance(kept, AccessToken):
            return kept
        if kept is not None:
            raise TokenError(kept)
        answer = await self._ask(token)
        now = self._clock()
        try:
            verified = self._access_token(token_id, answer, now)
        except TokenError as exc:
            self._answers.put(token_id, now + self._negative_s, str(exc))
            raise
        self._answers.put(token_id, min(verified.expires_at, now + self._cache_max_s), verified)
        return verified

    async def _ask(self, token: str) -> dict[str, Any]:
        if self._in_flight >= _IN_FLIGHT_MAX:
            raise IntrospectionUnavailableError("too many token introspections in progress")
        self._in_flight += 1
        try:
            endpoint = await self._introspection_endpoint()
            form, headers = self._request(token)
            self.requests += 1
            answer = await self._post(endpoint, form, headers)
        except DocumentError as exc:
            _log.warning("introspection_failed", issuer=self.issuer, error=str(exc)[:300])
            raise IntrospectionUnavailableError(
                "the identity provider's introspection endpoint did not answer"
            ) from exc
        finally:
            self._in_flight -= 1
        if not isinstance(answer, dict) or not isinstance(answer.get("active"), bool):
            _log.warning("introspection_answer_invalid", issuer=self.issuer)
            raise IntrospectionUnavailableError(
                "the identity provider's introspection answer is not valid"
            )
        return answer

    def _request(self, token: str) -> tuple[dict[str, str], dict[str, str]]:
        form = {"token": token, "token_type_hint": "access_token"}
        client_id, secret = self.config.client_id, self.config.client_secret
        if self.config.auth_method == "client_secret_post":
            return form | {"client_id": client_id, "client_secret": secret}, {}
        pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"  # RFC 6749 §2.3.1
        return form, {"authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    async def _introspection_endpoint(self) -> str:
        if self._endpoint is not None:
            return self._endpoint
        failed = self._discovery_failed_at
        if failed is not None and self._clock() - failed < _DISCOVERY_RETRY_S:
            raise DocumentError("discovery failed moments ago")
        problems: list[str] = []
        for url in discovery_urls(self.issuer):
            try:
                document = await self._fetch(url)
            except DocumentError as exc:
                problems.append(str(exc))
                continue
            found = document if isinstance(document, dict) else {}
            endpoint = found.get("introspection_endpoint")
            if found.get("issuer") == self.issuer and isinstance(endpoint, str):
                self._endpoint = endpoint
                return endpoint
            problems.append(f"{url}: no introspection_endpoint for {self.issuer}")
        self._discovery_failed_at = self._clock()
        raise DocumentError("; ".join(problems))

    def _access_token(self, token_id: str, answer: dict[str, Any], now: float) -> AccessToken:
        if answer["active"] is not True:
            raise TokenError("the token is not active")
        if answer.get("iss", self.issuer) != self.issuer:
            raise TokenError("the token is from another issuer")
        kind = answer.get("token_type")
        if kind is not None and (not isinstance(kind, str) or kind.lower() not in _BEARER):
            raise TokenError("the token is not a bearer access token")
        if answer.get("cnf") is not None:
            raise TokenError("the token is bound to a key (cnf); only bearer tokens are accepted")
        self._check_times(answer, now)
        return token_from_claims(self.issuer, answer, self.claims, token_id)

    def _check_times(self, answer: dict[str, Any], now: float) -> None:
        expires = answer.get("exp")
        if isinstance(expires, bool) or not isinstance(expires, int | float):
            raise TokenError("the introspection answer has no exp")
        if expires <= now - self._leeway:
            raise TokenError("the token has expired")
        for claim in ("nbf", "iat"):
            value = answer.get(claim)
            if isinstance(value, int | float) and value > now + self._leeway:
                raise TokenError("the token is not valid yet")
