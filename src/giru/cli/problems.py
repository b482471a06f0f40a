"""`ApiError`, what the CLI's API client raises: apart from the client so that the exit-code
mapping (and `giru --help`) does not import the HTTP stack."""

from __future__ import annotations

from typing import Any

from giru.errors import GiruError

__all__ = ["ApiError"]


class ApiError(GiruError):
    """The API refused a request (or could not be reached: status 0, code `unreachable`)."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, data={"errors": errors or []})
        self.code = code
        self.status = status
        self.errors: list[dict[str, Any]] = errors or []
