"""What goes wrong talking OAuth to an upstream's authorization server. Every error is a
`CredentialsUnavailableError` (code `credentials_unavailable`): the call that needed the token
is refused, calls to other servers go on. Messages never hold a token or a secret."""

from __future__ import annotations

from giru.errors import CredentialsUnavailableError

__all__ = ["DiscoveryError", "OAuthError", "TokenEndpointError"]


class OAuthError(CredentialsUnavailableError):
    """An authorization server or its metadata could not be used (the message says why)."""


class DiscoveryError(OAuthError):
    """No usable Protected Resource Metadata or authorization server metadata: not found,
    not JSON, too large, too slow, a refused address or redirect, a `resource` that does not
    name the server, or an `issuer` other than the one asked for (RFC 8414 §3.3)."""


class TokenEndpointError(OAuthError):
    """The token endpoint refused or failed (an OAuth error, HTML, a 5xx, a timeout, a reply
    without `access_token`).

    Attributes:
        error: The OAuth `error` code when the endpoint sent one (`invalid_grant`: the refresh
            token or code is no longer good, so a person-made connection must be made again;
            `invalid_client`: Giru's client credentials are wrong), else None.
        status: The HTTP status when there was an answer, else None.
    """

    def __init__(self, message: str, *, error: str | None = None, status: int | None = None):
        super().__init__(message, data={"error": error, "status": status})
        self.error = error
        self.status = status
