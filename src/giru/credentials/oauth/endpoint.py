"""`TokenEndpoint`: Giru as an OAuth client at one authorization server's token endpoint.

    endpoint = TokenEndpoint(http, server.token_endpoint, ClientAuth("id", "private_key_jwt",
                             pem), issuer=server.issuer)
    tokens = await endpoint.client_credentials(scopes=("mcp",), resource="https://mcp/x")
    tokens = await endpoint.authorization_code(code, redirect_uri, pkce.verifier, resource=...)
    tokens = await endpoint.refresh(tokens.refresh_token, resource=...)
    tokens = await endpoint.exchange(subject_token, SUBJECT_ACCESS_TOKEN, audience=..., ...)

Every grant sends the RFC 8707 `resource` when given; every answer is read by
`read_token_reply` (HTML, a 5xx, an OAuth error, no `access_token`: `TokenEndpointError`; the
whole exchange bounded by the `OAuthHttp` limits). Nothing here logs or caches: see
`TokenCache` for caching and `TokenTrail` for the audit records.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Final

from giru.credentials.oauth.clientauth import ClientAuth
from giru.credentials.oauth.errors import OAuthError, TokenEndpointError
from giru.credentials.oauth.tokens import TokenSet, read_token_reply
from giru.credentials.oauth.transport import OAuthHttp

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "ID_TOKEN_TYPE",
    "JWT_TOKEN_TYPE",
    "TOKEN_EXCHANGE_GRANT",
    "TokenEndpoint",
]

TOKEN_EXCHANGE_GRANT: Final = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - a name
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
ID_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105
JWT_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105


class TokenEndpoint:
    """Token requests to `url`, authenticated by `client` (see the module docstring)."""

    def __init__(
        self,
        http: OAuthHttp,
        url: str,
        client: ClientAuth,
        *,
        issuer: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self.url = url
        self.client = client
        self.issuer = issuer
        """Audience of `private_key_jwt` assertions when known (else the endpoint URL)."""
        self._clock = clock

    async def client_credentials(
        self,
        *,
        scopes: Sequence[str] = (),
        resource: str | None = None,
        audience: str | None = None,
    ) -> TokenSet:
        """RFC 6749 §4.4: a token for Giru itself."""
        form = {"grant_type": "client_credentials"}
        _optional(form, scope=" ".join(scopes), resource=resource, audience=audience)
        return await self.request(form)

    async def authorization_code(
        self, code: str, redirect_uri: str, verifier: str, *, resource: str | None = None
    ) -> TokenSet:
        """RFC 6749 §4.1.3 with the PKCE `code_verifier` (RFC 7636 §4.5)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        _optional(form, resource=resource)
        return await self.request(form)

    async def refresh(
        self, refresh_token: str, *, scopes: Sequence[str] = (), resource: str | None = None
    ) -> TokenSet:
        """RFC 6749 §6. The answer keeps `refresh_token` when the server does not rotate it;
        when it does, store the new one before using the access token (`TokenCache` does)."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        _optional(form, scope=" ".join(scopes), resource=resource)
        return await self.request(form, previous_refresh=refresh_token)

    async def exchange(
        self,
        subject_token: str,
        subject_token_type: str = ACCESS_TOKEN_TYPE,
        *,
        audience: str | None = None,
        resource: str | None = None,
        scopes: Sequence[str] = (),
        requested_token_type: str | None = ACCESS_TOKEN_TYPE,
    ) -> TokenSet:
        """RFC 8693 §2.1: a token for `audience`/`resource` on behalf of `subject_token`'s
        subject (impersonation semantics: no actor token)."""
        form = {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": subject_token,
            "subject_token_type": subject_token_type,
        }
        _optional(
            form,
            audience=audience,
            resource=resource,
            scope=" ".join(scopes),
            requested_token_type=requested_token_type,
        )
        return await self.request(form)

    async def request(
        self, form: dict[str, str], *, previous_refresh: str | None = None
    ) -> TokenSet:
        """Any grant: `form` plus the client's authentication, POSTed; the answer read."""
        headers: dict[str, str] = {}
        self.client.apply(form, headers, self.issuer or self.url)
        try:
            reply = await self._http.post_form(self.url, form, headers)
        except TokenEndpointError:
            raise
        except OAuthError as exc:
            raise TokenEndpointError(f"token endpoint unreachable: {exc.message}") from exc
        return read_token_reply(
            reply, self._clock(), previous_refresh=previous_refresh, url=self.url
        )


def _optional(form: dict[str, str], **values: str | None) -> None:
    for name, value in values.items():
        if value:
            form[name] = value
