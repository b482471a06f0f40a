"""One call waiting for a person's approval, and the verdict it gets."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

__all__ = ["STATUSES", "Status", "Ticket", "Verdict", "new_ticket_id"]

Status = Literal["pending", "approved", "denied", "expired"]
STATUSES: Final[frozenset[str]] = frozenset(get_args(Status))


def new_ticket_id() -> str:
    """A short id an administrator can type (`giru approvals approve ID`)."""
    return f"apr-{secrets.token_hex(6)}"


@dataclass(slots=True)
class Ticket:
    """A call held until a person decides: who asked for what, never argument values in clear
    (`summary` is redacted, see giru.approvals.summary)."""

    id: str
    actor: str
    server: str
    tool: str
    summary: str
    controls: list[str]
    """The rules that asked for an approval (pack control names, e.g. core.approval_tags)."""
    created_at: datetime
    expires_at: datetime
    node: str = ""
    status: Status = "pending"
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("created_at", "expires_at", "decided_at"):
            value = data[key]
            data[key] = value.isoformat() if isinstance(value, datetime) else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ticket:
        fields = dict(data)
        for key in ("created_at", "expires_at", "decided_at"):
            value = fields.get(key)
            fields[key] = datetime.fromisoformat(value) if isinstance(value, str) else None
        status = fields.get("status")
        fields["status"] = status if status in STATUSES else "pending"
        return cls(**fields)

    def decide(self, status: Status, actor: str, reason: str | None) -> None:
        self.status, self.decided_by, self.reason = status, actor, reason
        self.decided_at = datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Verdict:
    """How an approval ended: approved, denied (with the reason), or expired (no answer)."""

    status: Status
    by: str | None
    via: Literal["elicitation", "queue"]
    reason: str | None = None
    ticket: str | None = None

    @property
    def approved(self) -> bool:
        return self.status == "approved"

    def audit(self) -> dict[str, Any]:
        """The call's audit record `details.approval`."""
        found = {"status": self.status, "by": self.by, "via": self.via}
        if self.reason:
            found["reason"] = self.reason[:500]
        if self.ticket:
            found["ticket"] = self.ticket
        return found
