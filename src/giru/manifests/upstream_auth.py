"""How Giru authenticates to an upstream MCP server: `MCPServer.spec.auth`. Every secret is a
reference to a stored secret (`giru secrets set`), never a value in a manifest."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from pydantic import Field

from giru.manifests.fields import EnvName, Problem, SecretKey, SecretName, SpecModel
from giru.upstream.auth import MtlsAuth as CompiledMtls
from giru.upstream.auth import OAuthClientAuth, SecretEntry


class SecretRef(SpecModel):
    """A secret by name (`giru secrets set NAME ...`) and the entry to read (default `value`)."""

    name: SecretName
    key: SecretKey = "value"


class NoAuth(SpecModel):
    """The upstream needs no credential from Giru."""

    type: Literal["none"]


class StaticAuth(SpecModel):
    """A secret sent as a header (HTTP transports; default `Authorization`) or set as an
    environment variable of the child process (stdio), `prefix` before it (`"Bearer "`)."""

    type: Literal["static"]
    secret_ref: SecretRef
    header: str | None = None
    env: EnvName | None = None
    prefix: str = Field(default="", max_length=64)


class SecretValue(SpecModel):
    """A value that is a secret: always a reference, `{secretRef: {name: NAME}}`."""

    secret_ref: SecretRef


_URL = Field(min_length=8, max_length=2048, pattern=r"^https?://")
_SCOPE = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[\x21\x23-\x5b\x5d-\x7e]+$")]


class ClientCredentialsAuth(SpecModel):
    """Giru's own token from the upstream's authorization server (OAuth 2 client credentials
    grant): `tokenEndpoint`, or discovered from the server's metadata when absent."""

    type: Literal["oauth2-client-credentials"]
    token_endpoint: Annotated[str, _URL] | None = None
    client_id: str = Field(min_length=1, max_length=512)
    client_secret: SecretValue | None = None
    """For `client_secret_basic` / `client_secret_post`."""
    private_key: SecretValue | None = None
    """For `private_key_jwt`: the PEM private key (RSA, EC P-256/384/521 or Ed25519)."""
    auth_method: Literal["client_secret_basic", "client_secret_post", "private_key_jwt"] = (
        "client_secret_basic"
    )
    scopes: list[_SCOPE] | None = None
    """Default: the scopes discovery finds (challenge, then `scopes_supported`); none without
    discovery."""
    audience: str | None = Field(default=None, min_length=1, max_length=2048)
    resource: Annotated[str, _URL] | None = None
    """RFC 8707 resource; default: the server's Protected Resource Metadata `resource`, else
    its URL."""


class TokenExchangeAuth(SpecModel):
    """RFC 8693 on-behalf-of: the access token the calling person presented to Giru (issued by
    the identity provider, verified by Giru) is exchanged at the identity provider's token
    endpoint for a token for this upstream (`audience`, `resource`, `scopes`), cached by the
    presented token's hash; only the exchanged token is sent upstream."""

    type: Literal["token-exchange"]
    token_endpoint: Annotated[str, _URL]
    client_id: str = Field(min_length=1, max_length=512)
    client_secret: SecretValue | None = None
    private_key: SecretValue | None = None
    auth_method: Literal["client_secret_basic", "client_secret_post", "private_key_jwt"] = (
        "client_secret_basic"
    )
    audience: str | None = Field(default=None, min_length=1, max_length=2048)
    resource: Annotated[str, _URL] | None = None
    scopes: list[_SCOPE] | None = None
    subject_token_type: Literal[
        "urn:ietf:params:oauth:token-type:access_token",
        "urn:ietf:params:oauth:token-type:jwt",
    ] = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a token type name


class MtlsAuth(SpecModel):
    """A client certificate (PEM, with its chain) and key, each by secret reference, presented
    in the TLS handshake with an `https` upstream; `ca` (PEM) verifies the upstream's
    certificate instead of the system trust store."""

    type: Literal["mtls"]
    certificate: SecretValue
    key: SecretValue
    ca: SecretValue | None = None


class AuthorizationCodeAuth(SpecModel):
    """OAuth 2.1 authorization code + PKCE at the upstream's authorization server, made by a
    person in a browser (a *connection*): `shared` (one connection, an admin's, used for every
    caller) or `perUser` (each person connects their own account). Without `clientId` Giru
    registers itself: its Client ID Metadata Document when the server supports them, else
    dynamic client registration (RFC 7591). An `https` URL as `clientId` is a CIMD URL."""

    type: Literal["oauth2-authorization-code"]
    connection: Literal["shared", "perUser"] = "shared"
    client_id: str | None = Field(default=None, min_length=1, max_length=2048)
    client_secret: SecretValue | None = None
    scopes: list[Annotated[str, Field(pattern=r"^[\x21\x23-\x5b\x5d-\x7e]{1,128}$")]] = Field(
        default_factory=list, max_length=64
    )


AuthSpec = Annotated[
    NoAuth
    | StaticAuth
    | ClientCredentialsAuth
    | TokenExchangeAuth
    | MtlsAuth
    | AuthorizationCodeAuth,
    Field(discriminator="type"),
]


def credential_auth_problems(auth: object, transport: str, url: str | None) -> list[Problem]:
    """Rules of the OAuth and mTLS auth types that depend on other fields."""
    if not isinstance(auth, ClientCredentialsAuth | TokenExchangeAuth | MtlsAuth):
        return []
    if transport == "stdio":
        return [("spec.auth.type", f"{auth.type} needs an HTTP transport, not stdio")]
    if isinstance(auth, MtlsAuth):
        if url is not None and not url.startswith("https://"):
            return [("spec.url", "must be https with auth type mtls")]
        return []
    found: list[Problem] = []
    if auth.auth_method == "private_key_jwt":
        if auth.private_key is None:
            found.append(("spec.auth.privateKey", "required with authMethod private_key_jwt"))
        if auth.client_secret is not None:
            found.append(("spec.auth.clientSecret", "not used with authMethod private_key_jwt"))
    else:
        if auth.client_secret is None:
            found.append(("spec.auth.clientSecret", f"required with authMethod {auth.auth_method}"))
        if auth.private_key is not None:
            found.append(("spec.auth.privateKey", "only used with authMethod private_key_jwt"))
    return found


def compile_credential_auth(auth: object) -> OAuthClientAuth | CompiledMtls | None:
    """The compiled form of an OAuth or mTLS `spec.auth` (None for the other types)."""
    if isinstance(auth, MtlsAuth):
        ca = _entry(auth.ca) if auth.ca is not None else None
        return CompiledMtls(_entry(auth.certificate), _entry(auth.key), ca)
    if not isinstance(auth, ClientCredentialsAuth | TokenExchangeAuth):
        return None
    credential = auth.private_key if auth.auth_method == "private_key_jwt" else auth.client_secret
    assert credential is not None  # credential_auth_problems refused the manifest otherwise
    compiled = OAuthClientAuth(
        grant="token_exchange" if isinstance(auth, TokenExchangeAuth) else "client_credentials",
        client_id=auth.client_id,
        auth_method=auth.auth_method,
        credential=_entry(credential),
        token_endpoint=auth.token_endpoint,
        scopes=tuple(auth.scopes) if auth.scopes is not None else None,
        audience=auth.audience,
        resource=auth.resource,
    )
    if isinstance(auth, TokenExchangeAuth):
        return dataclasses.replace(compiled, subject_token_type=auth.subject_token_type)
    return compiled


def _entry(value: SecretValue) -> SecretEntry:
    return SecretEntry(value.secret_ref.name, value.secret_ref.key)
