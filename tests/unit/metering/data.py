"""Usage records for metering tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from giru.metering import UsageRecord, new_event_id

AT = datetime(2026, 3, 14, 15, 9, 26, 535897, tzinfo=UTC)


def record(**fields: Any) -> UsageRecord:
    """A record of an `ok` call to `kit/echo` by `alice` at `AT`, with `fields` replaced."""
    made: UsageRecord = {
        "event_id": new_event_id(),
        "at": AT,
        "node": "node-1",
        "subscription": "alice-kit",
        "client": "alice",
        "server": "kit",
        "tool": "echo",
        "request_id": "1",
        "duration_ms": 12.5,
        "outcome": "ok",
        "status": None,
        "bytes_in": 120,
        "bytes_out": 340,
        "cost": None,
        "person": None,
        "agent": None,
        "trace_id": None,
    }
    made.update(fields)  # type: ignore[typeddict-item]  # tests pass valid fields
    return made
