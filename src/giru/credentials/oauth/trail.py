"""`TokenTrail`: one audit record per token request Giru makes to an authorization server
(action `credentials/token`): who it was for, which server, which grant (`operation`:
`fetch`, `refresh`, `exchange`, `code`, `sign-in-refresh` for a broker sign-in's IdP token), the
outcome and, on failure, the reason and the OAuth error code.
Never a token, a secret or a client assertion."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from giru.credentials.oauth.errors import TokenEndpointError
from giru.credentials.trail import AuditSink, CredentialsTrail
from giru.errors import GiruError

__all__ = ["TokenTrail"]

T = TypeVar("T")


class TokenTrail:
    """Audits token requests into an `AuditSink` (a no-op without one)."""

    def __init__(self, audit: AuditSink | None, *, node: str = "") -> None:
        self._trail = CredentialsTrail(audit, node=node)

    async def audited(
        self,
        request: Callable[[], Awaitable[T]],
        *,
        actor: str,
        server: str | None,
        operation: str,
        grant: str,
        subject: str | None = None,
    ) -> T:
        """`await request()`, with one audit record for it (outcome `allowed` or `error`);
        `subject`: how the token exchanged is named (a prefix of its hash, never the token)."""
        details: dict[str, str | int | None] = {"operation": operation, "grant": grant}
        if subject is not None:
            details["subject"] = subject
        try:
            result = await request()
        except GiruError as exc:
            if isinstance(exc, TokenEndpointError):
                details |= {"error": exc.error, "status": exc.status}
            await self._record(actor, server, "error", [exc.message[:300]], details)
            raise
        await self._record(actor, server, "allowed", [], details)
        return result

    async def _record(
        self,
        actor: str,
        server: str | None,
        outcome: str,
        reasons: list[str],
        details: dict[str, str | int | None],
    ) -> None:
        await self._trail.record(
            "credentials/token",
            actor=actor,
            server=server,
            target=str(details["operation"]),
            outcome=outcome,
            reasons=reasons,
            details=details,
        )
