"""Audit records for audit tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from giru.audit import AuditRecord
from giru.metering import new_event_id

AT = datetime(2026, 3, 14, 15, 9, 26, 535897, tzinfo=UTC)


def record(**fields: Any) -> AuditRecord:
    """A record of an allowed `tools/call` of `kit/echo` by `alice` at `AT` on `node-1`, with
    `fields` replaced."""
    made: AuditRecord = {
        "event_id": new_event_id(),
        "at": AT,
        "node": "node-1",
        "actor": "alice",
        "action": "tools/call",
        "server": "kit",
        "target": "echo",
        "outcome": "allowed",
        "reasons": [],
        "policy_revision": "rev-1",
        "source_ip": "127.0.0.1",
        "details": {"status": 200, "audit": {"controls": ["PCI DSS Req 10.2"]}},
    }
    made.update(fields)  # type: ignore[typeddict-item]  # tests pass valid fields
    return made
