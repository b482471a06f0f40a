"""`ConnectionTrail`: one audit record per connection operation (action `connections/<op>`:
`connect`, `disconnect`, `refresh`, `step-up`), naming who, which server, whose connection and
the outcome; never a token, a code or a secret."""

from __future__ import annotations

from typing import Any

from giru.credentials.trail import AuditSink, CredentialsTrail

__all__ = ["ConnectionTrail"]


class ConnectionTrail:
    def __init__(self, audit: AuditSink | None, *, node: str = "") -> None:
        self._trail = CredentialsTrail(audit, node=node)

    async def record(
        self,
        operation: str,
        *,
        actor: str,
        server: str,
        owner: str,
        outcome: str = "allowed",
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """`owner`: whose connection (a person's label, or `shared`)."""
        await self._trail.record(
            f"connections/{operation}",
            actor=actor,
            server=server,
            target=owner,
            outcome=outcome,
            reasons=[reason] if reason else [],
            details=details,
        )
