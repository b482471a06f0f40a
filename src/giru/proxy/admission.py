"""Who gets in: the one decision on a request's credentials, taken by the worker for its own
requests and for Envoy's ext_authz alike (giru.xds.authz), and the audit of every refusal.

An endpoint takes API keys (`apiKey`), OAuth access tokens (`oauth`), either (`any`) or nothing
(`none`). A bearer token that looks like a JWT goes to the OAuth check where OAuth is accepted;
anything else is an API key, or, when it is none and an IdP introspects opaque tokens, an opaque
access token (its refusal counts as a failed authentication: it cost the IdP a request). When
OAuth is accepted, a refusal names the endpoint's protected resource metadata in
`WWW-Authenticate` (401), or asks for the missing scope (403); an IdP that cannot tell whether a
token is active makes it 503."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, NamedTuple, Protocol

from giru.access.failures import FailureLimiter
from giru.errors import GiruError
from giru.identity import (
    AccessToken,
    InsufficientScopeError,
    IntrospectionUnavailableError,
    PresentedToken,
    ProtectedResource,
    TokenError,
    token_hash,
)
from giru.identity import challenge as oauth_challenge
from giru.mcp import jsonrpc
from giru.mcp.jsonrpc import INVALID_REQUEST, JsonRpcError
from giru.metering import new_event_id
from giru.proxy.bearers import AdmittedBearer, AdmittedBearers
from giru.proxy.dispatch import Dispatcher
from giru.proxy.endpoints import ANONYMOUS, Endpoint, Principal
from giru.proxy.gate import INGRESS, Ingress
from giru.proxy.refusals import unavailable
from giru.telemetry.metrics import Metrics

__all__ = ["Admission", "Authenticator", "Refusal", "asks_for_key", "tricky_path"]

_WWW_AUTH: Final = (b"www-authenticate", b'Bearer realm="giru"')
_OAUTH: Final = frozenset({"oauth", "any"})
_KEYS: Final = frozenset({"apiKey", "any"})
_JSON: Final = (b"content-type", b"application/json")
_URL_CREDENTIALS: Final = (b"api_key=", b"access_token=")
_RETRY_S: Final = 5  # Retry-After when an IdP cannot tell whether a token is active


class Authenticator(Protocol):
    async def authenticate(self, token: str) -> Principal | None: ...

    def person(self, token: AccessToken, presented: PresentedToken | None = None) -> Principal:
        """The principal of the person a verified access token names (`presented`: the token
        itself, kept for token exchanges on their behalf)."""
        ...

    def get(self, name: str) -> Principal | None:
        """The client named `name` as currently configured (sessions outlive config changes)."""
        ...

    def recall(self, principal: Principal) -> None:
        """`principal` (a person's, from `person`) admitted again from the admitted bearers:
        `get` knows them by name as long as their token is used."""
        ...


class Refusal(NamedTuple):
    """The answer to a request refused for its credentials, ready to send as it is (by the
    worker, or by Envoy on the worker's behalf); `headers` include the content type."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


class Admission:
    """Credentials in, a principal or a refusal out. `authenticator` and `resource` are swapped
    on config reloads (which forgets the admitted bearers); the audit goes through the
    dispatcher's gate as it is at the time."""

    def __init__(
        self,
        authenticator: Authenticator,
        metrics: Metrics,
        dispatcher: Dispatcher,
        failures: FailureLimiter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._authenticator = authenticator
        self._resource: ProtectedResource | None = None
        self._clock = clock
        self._bearers = AdmittedBearers(clock=clock)
        self._metrics = metrics
        self._dispatcher = dispatcher
        self._failures = failures

    @property
    def authenticator(self) -> Authenticator:
        return self._authenticator

    @authenticator.setter
    def authenticator(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator  # other grants: every principal is made again
        self._bearers = AdmittedBearers(clock=self._clock)

    @property
    def resource(self) -> ProtectedResource | None:
        """The trusted issuers of OAuth access tokens (None or inactive: API keys only)."""
        return self._resource

    @resource.setter
    def resource(self, resource: ProtectedResource | None) -> None:
        self._resource = resource  # other issuers or scopes: every token is checked again
        self._bearers = AdmittedBearers(clock=self._clock)

    def accepts_oauth(self, endpoint: Endpoint) -> bool:
        resource = self._resource
        return endpoint.auth in _OAUTH and resource is not None and resource.active

    async def decide(
        self,
        endpoint: Endpoint,
        method: str,
        query: bytes,
        authorization: str | None,
        source: str | None,
        tls: bool,
        tail: str = "",
    ) -> Principal | Refusal:
        if any(marker in query for marker in _URL_CREDENTIALS):
            refusal = JsonRpcError(INVALID_REQUEST, "credentials are not accepted in the URL")
            self._metrics.rejections.labels(str(refusal.code)).inc()
            return await self._refusal(refusal, method, source, tls)
        if endpoint.auth == "none":
            return ANONYMOUS
        failures = self._failures if source is not None else None
        wait = failures.retry_after_s(source) if failures is not None and source else None
        if wait is not None:
            self._metrics.rejections.labels("auth_failures").inc()
            refusal = JsonRpcError(
                INVALID_REQUEST,
                "Too Many Requests: too many failed authentications from this address",
                data={"reason": "auth_failures"},
                http_status=429,
            )
            return await self._refusal(refusal, method, source, tls, retry_after=wait)
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        oauth = self.accepts_oauth(endpoint)
        if oauth and _looks_like_jwt(token):
            return await self._oauth(endpoint, token, tail, method, source, tls)
        principal = None
        if token and endpoint.auth in _KEYS:
            principal = await self.authenticator.authenticate(token)
        if principal is not None:
            return principal
        if oauth and token and self.resource is not None and self.resource.introspects:
            introspected = await self._oauth(endpoint, token, tail, method, source, tls)
            refused = isinstance(introspected, Refusal) and introspected.status == 401
            if refused and failures is not None and source:
                failures.failed(source)
            return introspected
        if failures is not None and source:
            failures.failed(source)
        self._metrics.rejections.labels("unauthenticated").inc()
        challenge = self._challenge(endpoint, tail) if oauth else None
        return await self._refusal(_unauthenticated(oauth), method, source, tls, challenge)

    def unauthenticated(self, endpoint: Endpoint, tail: str = "") -> Refusal:
        """The answer to a request at `endpoint` (`tail`: "", "sse" or "messages") without
        valid credentials, as `decide` renders it, unaudited: what the edge sends when it
        refuses such a request itself (giru.xds.keycheck)."""
        oauth = self.accepts_oauth(endpoint)
        challenge = self._challenge(endpoint, tail) if oauth else None
        return _rendered(_unauthenticated(oauth), challenge)

    async def _oauth(
        self, endpoint: Endpoint, token: str, tail: str, method: str, source: str | None, tls: bool
    ) -> Principal | Refusal:
        resource = self._resource
        assert resource is not None
        bearers = self._bearers  # a reload while verifying keeps what it admits out of the new
        try:
            kept = bearers.get(token_hash(token), endpoint.name)
            if kept is not None:  # admitted here before, not expired: revoked since?
                resource.revocations.check(kept.token)
                self._authenticator.recall(kept.principal)
                return kept.principal
            verified = await resource.authenticate(token, endpoint.resource_paths)
        except InsufficientScopeError as exc:
            self._metrics.rejections.labels("insufficient_scope").inc()
            refusal = JsonRpcError(INVALID_REQUEST, f"Forbidden: {exc}", http_status=403)
            header = self._challenge(endpoint, tail, "insufficient_scope", str(exc))
            return await self._refusal(refusal, method, source, tls, header)
        except IntrospectionUnavailableError as exc:
            self._metrics.rejections.labels("introspection_unavailable").inc()
            refusal = JsonRpcError(
                jsonrpc.INTERNAL_ERROR, f"Service Unavailable: {exc}", http_status=503
            )
            return await self._refusal(refusal, method, source, tls, retry_after=_RETRY_S)
        except TokenError as exc:  # cheap to refuse (no slow hash): no failure counted
            self._metrics.rejections.labels("invalid_token").inc()
            refusal = JsonRpcError(INVALID_REQUEST, f"Unauthorized: {exc}", http_status=401)
            header = self._challenge(endpoint, tail, "invalid_token", str(exc))
            return await self._refusal(refusal, method, source, tls, header)
        broker = verified.person.issuer == resource.base_url  # Giru issued it
        presented = PresentedToken(token, verified.token_id, verified.expires_at, broker)
        principal = self._authenticator.person(verified, presented)
        if resource.keeps(verified):
            bearers.put(endpoint.name, AdmittedBearer(verified, principal))
        return principal

    def _challenge(
        self, endpoint: Endpoint, tail: str, error: str | None = None, why: str | None = None
    ) -> tuple[bytes, bytes]:
        resource = self.resource
        assert resource is not None
        path = endpoint.legacy_path if tail in ("sse", "messages") else endpoint.path
        value = oauth_challenge(
            resource.metadata_url(path), resource.scopes, error=error, description=why
        )
        return (b"www-authenticate", value.encode())

    async def audited(
        self, exc: JsonRpcError, method: str, source: str | None, tls: bool
    ) -> JsonRpcError:
        """Audit a request refused at the HTTP layer (credentials, headers, body); when the
        record cannot be made durable, the answer is a 503 instead."""
        gate = self._dispatcher.gate
        if gate is None or gate.audit is None:
            return exc
        if INGRESS.get() is None:
            INGRESS.set(Ingress(new_event_id(), 0, source, tls, time.time_ns()))
        try:
            await gate.audit_rejection("unauthenticated", f"http {method}", exc)
        except GiruError as failure:
            return unavailable(failure, exc.id)
        return exc

    async def _refusal(
        self,
        exc: JsonRpcError,
        method: str,
        source: str | None,
        tls: bool,
        challenge: tuple[bytes, bytes] | None = None,
        *,
        retry_after: int | None = None,
    ) -> Refusal:
        """`exc` audited and rendered; a 503 instead when its audit record cannot be kept."""
        audited = await self.audited(exc, method, source, tls)
        if audited is not exc:
            self._metrics.rejections.labels(str(audited.code)).inc()
        return _rendered(audited, challenge, retry_after)


def _unauthenticated(oauth: bool) -> JsonRpcError:
    what = "an API key or an OAuth access token" if oauth else "a valid API key"
    return JsonRpcError(INVALID_REQUEST, f"Unauthorized: {what} is required", http_status=401)


def _rendered(
    exc: JsonRpcError, challenge: tuple[bytes, bytes] | None, retry_after: int | None = None
) -> Refusal:
    if exc.http_status in (401, 403) and challenge is not None:
        headers: tuple[tuple[bytes, bytes], ...] = (challenge, _JSON)
    elif exc.http_status == 401:
        headers = (_WWW_AUTH, _JSON)
    elif exc.http_status in (429, 503) and retry_after is not None:
        headers = ((b"retry-after", str(retry_after).encode()), _JSON)
    else:
        headers = (_JSON,)
    return Refusal(exc.http_status, headers, jsonrpc.dumps(exc.to_response()))


def _looks_like_jwt(token: str) -> bool:
    """A compact JWS (`header.payload.signature`, base64url): API keys never have dots."""
    return token.count(".") == 2 and token.startswith("eyJ")


def asks_for_key(tail: str, method: str) -> bool:
    """Whether the worker asks for credentials at this endpoint path and method (as
    `Gateway.__call__` dispatches); anything else it answers with 404 first."""
    return tail == "" or (tail, method) in (("sse", "GET"), ("messages", "POST"))


def tricky_path(raw_path: object) -> bool:
    """Escapes, dot segments or empty segments in the path as sent (H12): MCP paths never need
    them, and the server decodes `%2F` before routing, so they are refused outright."""
    if not isinstance(raw_path, bytes):
        return False
    return b"%" in raw_path or b"//" in raw_path or b"/." in raw_path
