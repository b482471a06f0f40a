"""Which OAuth client Giru is at an upstream's authorization server.

In order: the manifest's `clientId` (pre-registered; its `clientSecret` read from the secret
store; an `https` URL is a Client ID Metadata Document URL), Giru's own Client ID Metadata
Document (`<public URL>/oauth/client-metadata.json`) when the authorization server advertises
`client_id_metadata_document_supported`, else dynamic client registration (RFC 7591) at its
`registration_endpoint`, the registration kept as a secret (`oauth-client.<server>.<digest>`)
and reused. An authorization server offering none of these needs `clientId` in the manifest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Final, Literal

import aiohttp
import orjson

from giru.credentials.oauth import AuthorizationServer, ClientAuth
from giru.credentials.secretstore import SecretStore
from giru.egress import egress_refusal
from giru.errors import CredentialsUnavailableError, NotFoundError
from giru.upstream.base import UpstreamOAuth

__all__ = ["CLIENT_METADATA_PATH", "ClientRegistration", "client_metadata"]

CLIENT_METADATA_PATH: Final = "/oauth/client-metadata.json"
CALLBACK_PATH: Final = "/oauth/callback"
_MAX_BYTES: Final = 64_000
_TIMEOUT_S: Final = 10.0


def client_metadata(base_url: str) -> dict[str, Any]:
    """Giru's Client ID Metadata Document (its `client_id` is the URL it is served at)."""
    return {
        "client_id": base_url + CLIENT_METADATA_PATH,
        "client_name": "Giru MCP gateway",
        "client_uri": base_url,
        "redirect_uris": [base_url + CALLBACK_PATH],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "application_type": "web",  # a server-side client, redirects at its public URL
    }


class ClientRegistration:
    """The client (`ClientAuth`) Giru uses with one server's authorization server."""

    def __init__(self, secrets: SecretStore, http: aiohttp.ClientSession, *, base_url: str) -> None:
        self._secrets = secrets
        self._http = http
        self._base_url = base_url

    @property
    def redirect_uri(self) -> str:
        return self._base_url + CALLBACK_PATH

    async def client(
        self, server: str, oauth: UpstreamOAuth, authorization_server: AuthorizationServer
    ) -> ClientAuth:
        """Raises `CredentialsUnavailableError` (no way to register, a registration refused,
        the client secret unreadable)."""
        if oauth.client_id is not None:
            return await self._configured(server, oauth, authorization_server)
        own = self._base_url + CLIENT_METADATA_PATH
        if authorization_server.client_id_metadata_document_supported and own.startswith(
            "https://"
        ):
            return ClientAuth(own, "none")
        if authorization_server.registration_endpoint is None:
            raise CredentialsUnavailableError(
                f"the authorization server {authorization_server.issuer} offers neither client "
                "ID metadata documents nor dynamic registration: set spec.auth.clientId"
            )
        return await self._registered(server, authorization_server)

    async def _configured(
        self, server: str, oauth: UpstreamOAuth, authorization_server: AuthorizationServer
    ) -> ClientAuth:
        assert oauth.client_id is not None
        if oauth.client_secret is None:
            return ClientAuth(oauth.client_id, "none")
        name, key = oauth.client_secret
        record = await self._secrets.read(name, server=server)
        entries = await self._secrets.entries(record, server=server)
        secret = entries.get(key)
        if secret is None:
            raise CredentialsUnavailableError(f"secret {name!r} has no entry {key!r}")
        method = _secret_method(authorization_server.token_endpoint_auth_methods_supported)
        return ClientAuth(oauth.client_id, method, secret)

    async def _registered(
        self, server: str, authorization_server: AuthorizationServer
    ) -> ClientAuth:
        issuer = authorization_server.issuer
        name = f"oauth-client.{server}.{hashlib.sha256(issuer.encode()).hexdigest()[:24]}"
        try:
            record = await self._secrets.info(name)
            kept = await self._secrets.entries(record, server=server)
            if kept.get("redirect_uri") == self.redirect_uri and "client_id" in kept:
                return _client_auth(kept, authorization_server)
        except NotFoundError:
            pass
        endpoint = authorization_server.registration_endpoint
        assert endpoint is not None
        answer = await self._register(endpoint)
        client_id = answer.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise CredentialsUnavailableError(f"{endpoint} registered no client_id")
        kept = {"client_id": client_id, "redirect_uri": self.redirect_uri, "issuer": issuer}
        secret = answer.get("client_secret")
        if isinstance(secret, str) and secret:
            kept["client_secret"] = secret
        method = answer.get("token_endpoint_auth_method")
        if method in ("client_secret_basic", "client_secret_post"):
            kept["auth_method"] = method  # what the server registered, else what it supports
        await self._secrets.put(name, kept, actor="gateway", state=True)
        return _client_auth(kept, authorization_server)

    async def _register(self, endpoint: str) -> dict[str, Any]:
        document = client_metadata(self._base_url)
        del document["client_id"]
        timeout = aiohttp.ClientTimeout(total=_TIMEOUT_S)
        try:
            async with self._http.post(
                endpoint, json=document, timeout=timeout, allow_redirects=False
            ) as response:
                body = await response.content.read(_MAX_BYTES + 1)
                status = response.status
        except TimeoutError as exc:
            raise CredentialsUnavailableError(f"{endpoint}: no answer in time") from exc
        except (aiohttp.ClientError, OSError) as exc:
            refused = egress_refusal(exc)
            reason = refused.reason if refused is not None else type(exc).__name__
            raise CredentialsUnavailableError(f"{endpoint}: {reason}") from exc
        if status not in (200, 201) or len(body) > _MAX_BYTES:
            raise CredentialsUnavailableError(
                f"client registration at {endpoint} answered {status}"
            )
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise CredentialsUnavailableError(f"{endpoint} answered no JSON") from exc
        if not isinstance(answer, dict):
            raise CredentialsUnavailableError(f"{endpoint} answered no JSON object")
        return answer


def _client_auth(kept: dict[str, str], authorization_server: AuthorizationServer) -> ClientAuth:
    secret = kept.get("client_secret")
    if secret is None:
        return ClientAuth(kept["client_id"], "none")
    method: SecretMethod = _secret_method(
        authorization_server.token_endpoint_auth_methods_supported
    )
    if kept.get("auth_method") == "client_secret_post":
        method = "client_secret_post"
    elif kept.get("auth_method") == "client_secret_basic":
        method = "client_secret_basic"
    return ClientAuth(kept["client_id"], method, secret)


SecretMethod = Literal["client_secret_basic", "client_secret_post"]


def _secret_method(supported: Sequence[str]) -> SecretMethod:
    """How to present a client secret: `client_secret_basic` unless the authorization server
    supports only `client_secret_post` (RFC 8414: basic is the default when it says nothing)."""
    if "client_secret_basic" not in supported and "client_secret_post" in supported:
        return "client_secret_post"
    return "client_secret_basic"
