"""The compiled forms of `MCPServer.spec.auth` beyond `static` (`UpstreamAuth`): what
`giru.credentials` resolves into headers or a TLS context before a connector sees the spec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["MtlsAuth", "OAuthClientAuth", "SecretEntry"]


@dataclass(frozen=True, slots=True)
class SecretEntry:
    """Entry `key` of the stored secret `secret`."""

    secret: str
    key: str = "value"


@dataclass(frozen=True, slots=True)
class OAuthClientAuth:
    """`oauth2-client-credentials` (Giru's own token) or `token-exchange` (a token on behalf of
    the calling person, for their own upstream sessions)."""

    grant: Literal["client_credentials", "token_exchange"]
    client_id: str
    auth_method: Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]
    credential: SecretEntry
    """The client secret, or the PEM private key for `private_key_jwt`."""
    token_endpoint: str | None = None
    """None: discovered from the server's metadata (client credentials only)."""
    scopes: tuple[str, ...] | None = None
    audience: str | None = None
    resource: str | None = None
    subject_token_type: str = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105


@dataclass(frozen=True, slots=True)
class MtlsAuth:
    """A client certificate and key (PEM) from secrets; `ca` verifies the upstream."""

    certificate: SecretEntry
    key: SecretEntry
    ca: SecretEntry | None = None
