"""`OAuthError`: an OAuth error response (RFC 6749 §4.1.2.1, §5.2; RFC 7591 §3.2.2)."""

from __future__ import annotations

from typing import Final

from giru.errors import GiruError

__all__ = ["OAuthError"]

_STATUS: Final = {
    "invalid_client": 401,
    "unauthorized_client": 400,
    "access_denied": 403,
    "server_error": 500,
    "temporarily_unavailable": 503,
    "slow_down": 429,
}


class OAuthError(GiruError):
    """`error` is the registered OAuth error code; `description` is shown to the client and
    never holds a secret or unbounded input."""

    code = "oauth_error"

    def __init__(self, error: str, description: str, *, status: int | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status if status is not None else _STATUS.get(error, 400)

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}
