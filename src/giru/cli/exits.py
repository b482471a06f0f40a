"""Exit codes of the `giru` command and the one place a `GiruError` becomes one.

0 ok, 1 API or other error, 2 invalid input, 3 not found, 4 unauthenticated or forbidden,
5 conflict (already exists, in use, invalid transition, stale version, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from giru.cli.problems import ApiError
from giru.errors import GiruError

__all__ = [
    "EXIT_AUTH",
    "EXIT_CONFLICT",
    "EXIT_ERROR",
    "EXIT_INVALID",
    "EXIT_NOT_FOUND",
    "exit_code",
    "reported",
]

EXIT_ERROR = 1
EXIT_INVALID = 2
EXIT_NOT_FOUND = 3
EXIT_AUTH = 4
EXIT_CONFLICT = 5

_BY_CODE = {
    "validation_failed": EXIT_INVALID,
    "config_invalid": EXIT_INVALID,
    "body_too_large": EXIT_INVALID,
    "secret_too_large": EXIT_INVALID,
    "unsupported_media_type": EXIT_INVALID,
    "not_found": EXIT_NOT_FOUND,
    "unauthenticated": EXIT_AUTH,
    "permission_denied": EXIT_AUTH,
    "already_exists": EXIT_CONFLICT,
    "in_use": EXIT_CONFLICT,
    "invalid_transition": EXIT_CONFLICT,
    "approval_required": EXIT_CONFLICT,
    "managed_by_file": EXIT_CONFLICT,
    "precondition_failed": EXIT_CONFLICT,
    "blocking_finding": EXIT_CONFLICT,
}
_BY_STATUS = {
    400: EXIT_INVALID,
    401: EXIT_AUTH,
    403: EXIT_AUTH,
    404: EXIT_NOT_FOUND,
    409: EXIT_CONFLICT,
    412: EXIT_CONFLICT,
    413: EXIT_INVALID,
    415: EXIT_INVALID,
    422: EXIT_INVALID,
}


def exit_code(error: GiruError) -> int:
    """The exit code for an error: by its stable code, else by its HTTP status."""
    if error.code in _BY_CODE:
        return _BY_CODE[error.code]
    if isinstance(error, ApiError):
        return _BY_STATUS.get(error.status, EXIT_ERROR)
    return EXIT_ERROR


@contextmanager
def reported() -> Iterator[None]:
    """Print a `GiruError` (and its field errors) on stderr and exit with its code."""
    try:
        yield
    except GiruError as exc:
        if isinstance(exc, ApiError) and exc.errors:  # the field errors say it better than detail
            typer.echo(f"error: {exc.message.splitlines()[0]}", err=True)
            for error in exc.errors:
                where = error.get("field") or "(request)"
                typer.echo(f"  {where}: {error.get('reason', '')}", err=True)
        else:
            typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(exit_code(exc)) from exc
