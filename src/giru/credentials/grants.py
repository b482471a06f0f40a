"""`UpstreamTokens`: OAuth access tokens Giru presents to upstreams as `Authorization: Bearer`.

`oauth2-client-credentials`: Giru's own token for the server, from `auth.tokenEndpoint` or the
token endpoint discovery finds from the server's 401 (`giru.credentials.oauth.Discovery`), with
the client secret or private key read from the secret store. Tokens live in a `TokenCache`
(shared across workers through Redis when configured); a call with a cached token costs a dict
lookup, a clock read and a comparison. The resolved spec stays the same object while the token
is the same, so the upstream pool keeps its sessions until a new token arrives. Every token
request is audited (`credentials/token`, actor `giru`). The client's own token to Giru is never
used: the header is set from Giru's token alone, replacing any other `Authorization`.

`token-exchange` (`exchanged`): the access token the calling person presented to Giru (one the
identity provider issued and Giru verified) is exchanged at the configured token endpoint for a
token for the upstream, cached by the presented token's hash; the presented token goes to the
token endpoint only. Each exchange is audited (`credentials/token`, operation `exchange`, the
person as actor, the first 16 hex digits of the presented token's SHA-256 as `subject`).
In broker mode the presented token is Giru's own; the person's sign-in stands for it: its
identity provider refresh token yields a fresh IdP access token (`sign_ins`,
`giru.credentials.sign_ins.SignInTokens`), which is exchanged and names the cache entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

from giru.credentials.connections.tokens import Caller
from giru.credentials.oauth import (
    ClientAuth,
    Discovery,
    OAuthHttp,
    TokenCache,
    TokenEndpoint,
    TokenSet,
    TokenTrail,
)
from giru.errors import CredentialsUnavailableError
from giru.identity import PresentedToken
from giru.upstream.auth import OAuthClientAuth, SecretEntry
from giru.upstream.base import ServerSpec

__all__ = ["EntryReader", "SignInSubjects", "UpstreamTokens"]

EntryReader = Callable[[SecretEntry, str], Awaitable[str]]
"""(secret entry, server) -> its value; raises `CredentialsUnavailableError`."""


class SignInSubjects(Protocol):
    """Where the identity provider's access token of a person signed in through Giru's broker
    comes from (`giru.credentials.sign_ins.SignInTokens`)."""

    def peek(self, caller: Caller) -> PresentedToken | None: ...

    async def subject_token(self, server: str, caller: Caller) -> PresentedToken: ...


_HEADER: Final = "Authorization"


class UpstreamTokens:
    """Resolves `OAuthClientAuth` specs into a Bearer header (see the module docstring)."""

    def __init__(
        self,
        http: OAuthHttp,
        cache: TokenCache,
        read: EntryReader,
        *,
        trail: TokenTrail | None = None,
        discovery: Discovery | None = None,
    ) -> None:
        self._http = http
        self.cache = cache
        self._read = read
        self._trail = trail or TokenTrail(None)
        self.discovery = discovery or Discovery(http)
        self._keys: dict[OAuthClientAuth, str] = {}
        self._made: dict[str, tuple[ServerSpec, str, ServerSpec]] = {}
        self._listing: dict[str, Caller] = {}
        """Per token-exchange server: the person who called it last (its tools are listed with
        their exchanged token)."""
        self.sign_ins: SignInSubjects | None = None
        """In broker mode: the IdP access tokens of people signed in through Giru (what their
        Giru-issued tokens stand for in an exchange); None: such tokens are refused."""

    async def resolve(self, spec: ServerSpec, auth: OAuthClientAuth) -> ServerSpec:
        """`spec` with Giru's token in `Authorization`.

        Raises:
            CredentialsUnavailableError: no token could be obtained (the reason says why).
        """
        if auth.grant != "client_credentials":
            raise CredentialsUnavailableError(
                f"server {spec.name!r} exchanges the caller's token; it has none here"
            )
        key = self._keys.get(auth) or self._key(spec.name, auth)
        tokens = self.cache.peek(key)
        if tokens is None:
            tokens = await self.cache.get(key, lambda _: self._client_credentials(spec, auth))
        made = self._made.get(spec.name)
        if made is not None and made[0] is spec and made[1] == tokens.access_token:
            return made[2]
        headers = {k: v for k, v in spec.headers.items() if k.lower() != "authorization"}
        headers[_HEADER] = "Bearer " + tokens.access_token
        resolved = dataclasses.replace(spec, headers=headers)
        self._made[spec.name] = (spec, tokens.access_token, resolved)
        return resolved

    async def exchanged(
        self, spec: ServerSpec, auth: OAuthClientAuth, caller: Caller | None
    ) -> str:
        """The access token for `caller`'s calls to `spec`: exchanged (RFC 8693) for the access
        token their request presented, cached by that token's hash until shortly before the
        exchanged one expires (the cached path: one dict lookup). None: the token of the person
        who last called (to list the server's tools with). The presented token goes to the
        token endpoint only, never upstream.

        Raises:
            CredentialsUnavailableError: the caller presented no token the identity provider
                can exchange, or the exchange failed (the reason says why).
        """
        if auth.grant != "token_exchange" or auth.token_endpoint is None:
            raise CredentialsUnavailableError(f"server {spec.name!r} does not exchange tokens")
        if caller is None:
            caller = self._listing.get(spec.name)
            if caller is None:
                raise CredentialsUnavailableError(
                    f"server {spec.name!r} is listed with a token exchanged for a person, and "
                    "no person signed in over OAuth has used Giru since it was configured"
                )
        subject = await self._subject(spec.name, caller)
        base = self._keys.get(auth) or self._key(spec.name, auth)
        key = f"{base}:{subject.token_id}"
        tokens = self.cache.peek(key)
        if tokens is None:
            if subject.expires_at <= time.time():
                raise CredentialsUnavailableError("the token to exchange has expired")
            person = caller

            async def exchange(_: TokenSet | None) -> TokenSet:
                return await self._exchange(spec, auth, subject, person)

            tokens = await self.cache.get(key, exchange)
        self._listing[spec.name] = caller
        return tokens.access_token

    async def exchange_refused(
        self, spec: ServerSpec, auth: OAuthClientAuth, caller: Caller | None
    ) -> None:
        """The upstream answered 401 to the token exchanged for `caller`: exchange again on
        next use."""
        caller = caller if caller is not None else self._listing.get(spec.name)
        if caller is None or caller.token is None:
            return
        subject = caller.token
        if subject.issued_by_gateway:  # the sign-in's IdP token was exchanged
            kept = self.sign_ins.peek(caller) if self.sign_ins is not None else None
            if kept is None:
                return
            subject = kept
        base = self._keys.get(auth) or self._key(spec.name, auth)
        key = f"{base}:{subject.token_id}"
        tokens = self.cache.peek(key)
        if tokens is not None:
            await self.cache.expire(key, tokens)

    async def _subject(self, server: str, caller: Caller) -> PresentedToken:
        """The token to exchange for `caller`: the one they presented (direct mode), or, for a
        token Giru issued (broker mode), their sign-in's fresh IdP access token."""
        presented = _subject_of(server, caller, brokered=self.sign_ins is not None)
        if presented.issued_by_gateway and self.sign_ins is not None:
            return await self.sign_ins.subject_token(server, caller)
        return presented

    async def _exchange(
        self, spec: ServerSpec, auth: OAuthClientAuth, subject: PresentedToken, caller: Caller
    ) -> TokenSet:
        assert auth.token_endpoint is not None
        secret = await self._read(auth.credential, spec.name)
        client = ClientAuth(auth.client_id, auth.auth_method, secret)
        endpoint = TokenEndpoint(self._http, auth.token_endpoint, client)

        async def request() -> TokenSet:
            return await endpoint.exchange(
                subject.value,
                auth.subject_token_type,
                audience=auth.audience,
                resource=auth.resource or spec.url,
                scopes=auth.scopes or (),
            )

        return await self._trail.audited(
            request,
            actor=caller.actor,
            server=spec.name,
            operation="exchange",
            grant="token_exchange",
            subject=subject.token_id[:16],
        )

    async def refused(self, spec: ServerSpec) -> None:
        """The upstream answered 401 to the token last resolved for `spec`: obtain a new one
        on next use (for every worker) and discover again."""
        made = self._made.pop(spec.name, None)
        if made is None or not isinstance(spec.auth, OAuthClientAuth):
            return
        key = self._keys.get(spec.auth) or self._key(spec.name, spec.auth)
        tokens = self.cache.peek(key)
        if tokens is not None and tokens.access_token == made[1]:
            await self.cache.expire(key, tokens)
        if spec.url is not None:
            self.discovery.forget(spec.url)

    def _key(self, server: str, auth: OAuthClientAuth) -> str:
        digest = hashlib.sha256(repr(auth).encode()).hexdigest()[:16]
        key = f"cc:{server}:{digest}"  # another client id or endpoint: another token
        self._keys[auth] = key
        return key

    async def _client_credentials(self, spec: ServerSpec, auth: OAuthClientAuth) -> TokenSet:
        secret = await self._read(auth.credential, spec.name)
        url, issuer, resource, scopes = await self._target(spec, auth)
        client = ClientAuth(auth.client_id, auth.auth_method, secret)
        endpoint = TokenEndpoint(self._http, url, client, issuer=issuer)

        async def request() -> TokenSet:
            return await endpoint.client_credentials(
                scopes=scopes, resource=resource, audience=auth.audience
            )

        return await self._trail.audited(
            request, actor="giru", server=spec.name, operation="fetch", grant="client_credentials"
        )

    async def _target(
        self, spec: ServerSpec, auth: OAuthClientAuth
    ) -> tuple[str, str | None, str | None, tuple[str, ...]]:
        """(token endpoint, issuer, resource, scopes): configured, else discovered."""
        if auth.token_endpoint is not None or spec.url is None:
            if auth.token_endpoint is None:
                raise CredentialsUnavailableError(f"server {spec.name!r} has no token endpoint")
            return auth.token_endpoint, None, auth.resource or spec.url, auth.scopes or ()
        found = await self.discovery.discover(spec.url)
        scopes = auth.scopes if auth.scopes is not None else found.scopes
        return (
            found.server.token_endpoint,
            found.server.issuer,
            auth.resource or found.resource,
            scopes,
        )


def _subject_of(server: str, caller: Caller, *, brokered: bool = False) -> PresentedToken:
    """The token `caller` presented, when the identity provider can exchange it (or, when
    `brokered`, one Giru's broker issued: its sign-in's IdP token stands for it)."""
    subject = caller.token
    if subject is None:
        raise CredentialsUnavailableError(
            f"server {server!r} takes a token exchanged for the calling person's own access "
            "token, and this caller presented none (an API key is not a person's token)"
        )
    if subject.issued_by_gateway and not brokered:
        raise CredentialsUnavailableError(
            f"server {server!r} takes a token exchanged at the identity provider, and the "
            "caller's token was issued by Giru (broker mode), which the identity provider "
            "cannot exchange, and Giru's authorization server is not running here to stand "
            "for it with the person's sign-in"
        )
    return subject
