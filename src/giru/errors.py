"""The one error tree of Giru; each surface maps it to its wire format in exactly one place."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigError",
    "GiruError",
    "NotFoundError",
    "PermissionDeniedError",
    "UnauthenticatedError",
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


class UnauthenticatedError(GiruError):
    code = "unauthenticated"


class PermissionDeniedError(GiruError):
    code = "permission_denied"


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
