"""Usage records: one per tools/call that reached admission, identified by a UUIDv7 event id.

Records are plain TypedDicts on the hot path; `encode_record` / `decode_record` are their JSON
form in the spool (orjson; `at` as RFC 3339 with its UTC offset).
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime
from typing import Any, Final, Literal, TypedDict, get_args

import orjson

from giru.store.usage import ERROR_OUTCOMES, REJECTED_OUTCOMES

__all__ = [
    "ERROR_OUTCOMES",
    "OUTCOMES",
    "REJECTED_OUTCOMES",
    "Outcome",
    "UsageRecord",
    "decode_record",
    "encode_record",
    "new_event_id",
    "usage_from",
]

Outcome = Literal[
    "ok",
    "tool_error",
    "error",
    "rate_limited",
    "quota_exceeded",
    "upstream_error",
    "policy_denied",
    "policy_unavailable",
]
OUTCOMES: Final[frozenset[str]] = frozenset(get_args(Outcome))


class UsageRecord(TypedDict):
    """One tools/call as metered at ingress (see docs/api.md, "Usage")."""

    event_id: str
    at: datetime
    node: str
    subscription: str | None
    client: str
    server: str
    tool: str
    request_id: str | None
    duration_ms: float
    outcome: Outcome
    status: int | None
    bytes_in: int
    bytes_out: int
    cost: float | None
    person: str | None
    """The person signed in over OAuth (email, else subject); None for an API-key client."""
    agent: str | None
    """The OAuth client (the MCP client app) acting for `person`."""
    trace_id: str | None
    """The request's trace (32 hex digits) when tracing is on, else None."""


_FIELDS: Final = frozenset(UsageRecord.__annotations__)
_LATER: Final = frozenset({"person", "agent", "trace_id"})
"""Fields a spool written by an earlier version lacks (read as None)."""


def encode_record(record: UsageRecord) -> bytes:
    return orjson.dumps(record)


def decode_record(payload: bytes) -> UsageRecord:
    """The record `encode_record` wrote; `ValueError` for anything else."""
    return usage_from(orjson.loads(payload))


def usage_from(value: Any) -> UsageRecord:
    """The usage record parsed JSON `value` holds (`encode_record`'s form); `ValueError` when
    it holds none."""
    missing = _FIELDS - set(value) if isinstance(value, dict) else set()
    if missing and missing <= _LATER:
        value.update(dict.fromkeys(missing))
    if not isinstance(value, dict) or set(value) != _FIELDS or not isinstance(value["at"], str):
        raise ValueError("not a usage record")
    at = datetime.fromisoformat(value["at"])
    if at.tzinfo is None:
        raise ValueError("usage record time without a UTC offset")
    value["at"] = at
    record: UsageRecord = value  # type: ignore[assignment]  # checked: exactly the fields
    return record


class _UUIDv7:
    """RFC 9562 UUIDv7 with a 74-bit counter seeded at random each millisecond (method 3 of
    §6.2): ids from one process sort in the order they were made, even within a millisecond or
    when the clock steps back. Random bits come from the OS, so forked workers never collide."""

    _COUNTER_BITS = 74
    _SEED_BITS = 73  # leaves room to count up within a millisecond

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ms = 0
        self._counter = 0

    def __call__(self) -> str:
        now = time.time_ns() // 1_000_000
        with self._lock:
            if now > self._ms:
                self._ms, self._counter = now, secrets.randbits(self._SEED_BITS)
            else:
                self._counter += 1
                if self._counter >> self._COUNTER_BITS:  # exhausted: borrow the next millisecond
                    self._ms, self._counter = self._ms + 1, secrets.randbits(self._SEED_BITS)
            ms, counter = self._ms, self._counter
        value = (
            (ms & 0xFFFF_FFFF_FFFF) << 80
            | 0x7 << 76
            | (counter >> 62) << 64
            | 0b10 << 62
            | (counter & ((1 << 62) - 1))
        )
        text = f"{value:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


_GENERATOR: Final = _UUIDv7()  # process-wide on purpose: ids must increase across callers


def new_event_id() -> str:
    """A new UUIDv7 (lower-case, hyphenated); each is greater than the previous in-process."""
    return _GENERATOR()
