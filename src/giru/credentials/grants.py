"""`UpstreamTokens`: OAuth access tokens Giru presents to upstreams as `Authorization: Bearer`.

`oauth2-client-credentials`: Giru's own token for the server, from `auth.tokenEndpoint` or the
token endpoint discovery finds from the server's 401 (`giru.credentials.oauth.Discovery`), with
the client secret or private key read from the secret store. Tokens live in a `TokenCache`
(shared across workers through Redis when configured); a call with a cached token costs a dict
lookup, a clock read and a comparison. The resolved spec stays the same object while the token
is the same, so the upstream pool keeps its sessions until a new token arrives. Every token
request is audited (`credentials/token`, actor `giru`). The client's own token to Giru is never
used: the header is set from Giru's token alone, replacing any other `Authorization`.

`token-exchange` (`resolve_for`): the caller's verified access token is exchanged at the
configured token endpoint for a token for the upstream, cached per person; the caller's token
goes to the token endpoint only. The data path does not call it yet (it needs the caller's
token and per-person upstream sessions, which `oauth2-authorization-code perUser` needs too),
so manifests with `token-exchange` are refused for now.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Awaitable, Callable
from typing import Final

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
from giru.upstream.auth import OAuthClientAuth, SecretEntry
from giru.upstream.base import ServerSpec

__all__ = ["EntryReader", "UpstreamTokens"]

EntryReader = Callable[[SecretEntry, str], Awaitable[str]]
"""(secret entry, server) -> its value; raises `CredentialsUnavailableError`."""

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

    async def resolve_for(
        self, spec: ServerSpec, auth: OAuthClientAuth, subject_token: str, person: str
    ) -> ServerSpec:
        """`spec` with a token exchanged for `person`'s verified `subject_token` (RFC 8693),
        cached per person until shortly before it expires. The subject token goes to the
        token endpoint only, never upstream.

        Raises:
            CredentialsUnavailableError: the exchange failed (the reason says why).
        """
        if auth.grant != "token_exchange" or auth.token_endpoint is None:
            raise CredentialsUnavailableError(f"server {spec.name!r} does not exchange tokens")
        key = f"{self._keys.get(auth) or self._key(spec.name, auth)}:{person}"
        tokens = self.cache.peek(key)
        if tokens is None:

            async def exchange(_: TokenSet | None) -> TokenSet:
                return await self._exchange(spec, auth, subject_token, person)

            tokens = await self.cache.get(key, exchange)
        headers = {k: v for k, v in spec.headers.items() if k.lower() != "authorization"}
        headers[_HEADER] = "Bearer " + tokens.access_token
        return dataclasses.replace(spec, headers=headers)

    async def _exchange(
        self, spec: ServerSpec, auth: OAuthClientAuth, subject_token: str, person: str
    ) -> TokenSet:
        assert auth.token_endpoint is not None
        secret = await self._read(auth.credential, spec.name)
        client = ClientAuth(auth.client_id, auth.auth_method, secret)
        endpoint = TokenEndpoint(self._http, auth.token_endpoint, client)

        async def request() -> TokenSet:
            return await endpoint.exchange(
                subject_token,
                auth.subject_token_type,
                audience=auth.audience,
                resource=auth.resource or spec.url,
                scopes=auth.scopes or (),
            )

        return await self._trail.audited(
            request, actor=person, server=spec.name, operation="exchange", grant="token_exchange"
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
