"""The one error tree of Giru; each surface maps it to its wire format in exactly one place."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigError",
    "ConflictError",
    "ConnectionRequiredError",
    "CredentialsUnavailableError",
    "GiruError",
    "NotFoundError",
    "PermissionDeniedError",
    "PolicyUnavailableError",
    "PreconditionFailedError",
    "StoreUnavailableError",
    "UnauthenticatedError",
    "UpstreamCredentialsError",
    "UpstreamError",
    "UpstreamProtocolError",
    "UpstreamTimeoutError",
    "UpstreamUnavailableError",
    "ValidationError",
]


class GiruError(Exception):
    """Root of every error Giru raises on purpose; `code` is stable and documented."""

    code = "internal"

    def __init__(self, message: str, *, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data or {}


class ConfigError(GiruError):
    """Configuration (manifests, settings) is invalid; nothing was applied."""

    code = "config_invalid"


class ValidationError(GiruError):
    code = "validation_failed"


class NotFoundError(GiruError):
    code = "not_found"


class ConflictError(GiruError):
    """The request conflicts with the current state: `already_exists` unless `code` says which.

    Other codes: `in_use`, `invalid_transition`, `approval_required`, `managed_by_file`.
    """

    code = "already_exists"

    def __init__(
        self, message: str, *, code: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, data=data)
        if code is not None:
            self.code = code


class PreconditionFailedError(GiruError):
    """An expected version (`If-Match`) is not the current one."""

    code = "precondition_failed"


class UnauthenticatedError(GiruError):
    code = "unauthenticated"


class PermissionDeniedError(GiruError):
    code = "permission_denied"


class PolicyUnavailableError(GiruError):
    """No policy decision could be made (no engine, OPA down, timed out, undefined): deny."""

    code = "policy_unavailable"


class CredentialsUnavailableError(GiruError):
    """A secret could not be read or written: its backend is unreachable, sealed or refused, the
    key-encryption key is missing, or the secret does not exist."""

    code = "credentials_unavailable"


class StoreUnavailableError(GiruError):
    """The database did not answer (down, unreachable, timed out); retry later."""

    code = "store_unavailable"


class UpstreamError(GiruError):
    """An upstream MCP server failed; `server` names it."""

    code = "upstream_error"

    def __init__(self, server: str, message: str, *, data: dict[str, Any] | None = None) -> None:
        super().__init__(message, data=data)
        self.server = server


class UpstreamUnavailableError(UpstreamError):
    code = "upstream_unavailable"


class UpstreamTimeoutError(UpstreamError):
    code = "upstream_timeout"


class UpstreamProtocolError(UpstreamError):
    code = "upstream_protocol_error"


class UpstreamCredentialsError(UpstreamUnavailableError):
    """The server's credentials could not be read, so it was not called (no upstream fault)."""

    code = "credentials_unavailable"


class ConnectionRequiredError(UpstreamCredentialsError):
    """The server takes OAuth tokens from a connection the caller has not made (or that must be
    made again: `needs_reconnect`); `connect_url` is where a person makes it in a browser."""

    code = "connection_required"

    def __init__(self, server: str, message: str, *, connect_url: str, status: str) -> None:
        super().__init__(server, message, data={"connectUrl": connect_url, "status": status})
        self.connect_url = connect_url
        self.status = status
