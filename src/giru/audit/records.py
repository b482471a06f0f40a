"""Audit records: one per MCP request decision, a plain TypedDict on the hot path.

`encode_record` is the record's form in the spool (orjson) and also where it is made safe to
store: the drain must never meet a record the database refuses, so text loses NUL characters and
lone surrogates, `details` keys become strings and values JSON (NaN: null; unknown types: their
`str`), and a naive `at` counts as UTC. `decode_record` returns exactly what will be hashed and
stored.

The audit spool holds `Entry`s: an audit record and, for a metered tools/call, the call's usage
record in the same frame (the audit record's JSON object with one more member, `usage`), so a
call's two records cost one append, one commit and one drain. A frame without `usage` is a plain
audit record, as spools written before usage records moved here hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal, NamedTuple, TypedDict, get_args

import orjson

from giru.errors import GiruError
from giru.metering.records import UsageRecord, usage_from
from giru.metering.spool import Codec

__all__ = [
    "AUDIT_CODEC",
    "OUTCOMES",
    "AuditRecord",
    "AuditSpoolError",
    "AuditSpoolFullError",
    "ChainedRecord",
    "Entry",
    "Outcome",
    "decode_entry",
    "decode_record",
    "encode_entry",
    "encode_record",
]

Outcome = Literal[
    "allowed",
    "policy_denied",
    "policy_unavailable",
    "rate_limited",
    "quota_exceeded",
    "unauthenticated",
    "forbidden",
    "bad_request",
    "error",
]
OUTCOMES: Final[frozenset[str]] = frozenset(get_args(Outcome))
"""The outcomes of the contract; the store takes any other string too (new failure kinds)."""


class AuditRecord(TypedDict):
    """One MCP request as audited (see docs/audit.md)."""

    event_id: str  # the request id (giru.metering.new_event_id()); unique
    at: datetime  # UTC, when the request arrived
    node: str  # the worker (app._node())
    actor: str  # client name, "anonymous", or "unauthenticated"
    action: str  # "tools/call", "tools/list", "prompts/get", "resources/read", "initialize", ...
    server: str | None
    target: str | None  # tool / prompt name / resource uri
    outcome: str  # allowed | policy_denied | policy_unavailable | rate_limited | ... | error
    reasons: list[str]  # deny reasons / error message (never secrets, never argument values)
    policy_revision: str | None
    source_ip: str | None
    details: dict[str, Any]  # policy `audit` fields, alerts, status code, JSON-RPC code, ...


class ChainedRecord(AuditRecord):
    """A record with its place in its node's hash chain (assigned by the drain)."""

    seq: int
    prev_hash: str
    hash: str


_TEXT: Final = ("event_id", "node", "actor", "action", "outcome")
_OPTIONAL_TEXT: Final = ("server", "target", "policy_revision", "source_ip")
_FIELDS: Final = frozenset(AuditRecord.__annotations__)
_OPTIONS: Final = orjson.OPT_NON_STR_KEYS | orjson.OPT_NAIVE_UTC


def encode_record(record: AuditRecord) -> bytes:
    """The record's spool payload; `ValueError` for a record that is not one (a bug)."""
    _check(record)
    return _storable(record)


def _storable(value: Mapping[str, Any]) -> bytes:
    """`value` as JSON the database takes: cleaned (`_clean`) when orjson refuses it or it
    holds a NUL character."""
    try:
        payload = orjson.dumps(value, default=str, option=_OPTIONS)
    except orjson.JSONEncodeError:  # lone surrogates, integers beyond 64 bits, deep nesting
        payload = orjson.dumps(_clean(value), default=str, option=_OPTIONS)
    if b"\\u0000" in payload:  # PostgreSQL text cannot hold NUL
        payload = orjson.dumps(_clean(value), default=str, option=_OPTIONS)
    return payload


class Entry(NamedTuple):
    """What the audit spool holds: an audit record and, for a metered tools/call, its usage
    record (stored by the audit drain in the usage table)."""

    record: AuditRecord
    usage: UsageRecord | None = None


def encode_entry(entry: Entry) -> bytes:
    """The entry's spool payload: the audit record's, with `usage` added when there is one
    (spliced in, not encoded twice; made storable like the audit record, since a usage record
    the database refused would hold up the audit records drained with it); `ValueError` for a
    record that is not one (a bug)."""
    payload = encode_record(entry.record)
    if entry.usage is None:
        return payload
    return b"".join((payload[:-1], b',"usage":', _storable(entry.usage), b"}"))


def decode_entry(payload: bytes) -> Entry:
    """The entry `encode_entry` wrote (or a plain audit record); `ValueError` for anything
    else."""
    value: Any = orjson.loads(payload)
    usage = value.pop("usage", None) if isinstance(value, dict) else None
    return Entry(_audit_from(value), usage_from(usage) if usage is not None else None)


def decode_record(payload: bytes) -> AuditRecord:
    """The record `encode_record` wrote; `ValueError` for anything else."""
    return _audit_from(orjson.loads(payload))


def _audit_from(value: Any) -> AuditRecord:
    """The audit record parsed JSON `value` holds; `ValueError` when it holds none."""
    if not isinstance(value, dict) or set(value) != _FIELDS or not isinstance(value["at"], str):
        raise ValueError("not an audit record")
    at = datetime.fromisoformat(value["at"])
    if at.tzinfo is None:
        raise ValueError("audit record time without a UTC offset")
    value["at"] = at.astimezone(UTC)
    record: AuditRecord = value  # type: ignore[assignment]  # checked: exactly the fields
    return record


class AuditSpoolError(GiruError):
    """The audit spool cannot take the record (closed, or the disk failed): answer 503."""

    code = "audit_spool_unavailable"


class AuditSpoolFullError(AuditSpoolError):
    """The audit spool is at its cap (the store is behind): back-pressure, answer 503."""

    code = "audit_spool_full"


AUDIT_CODEC: Final[Codec[Entry]] = Codec(
    "audit", encode_entry, decode_entry, unavailable=AuditSpoolError
)


def _check(record: Mapping[str, Any]) -> None:
    """Refuse (at `record()`, not in the drain) what the table's columns cannot hold."""
    if set(record) != _FIELDS:
        missing, extra = _FIELDS - set(record), set(record) - _FIELDS
        raise ValueError(f"audit record fields: missing {sorted(missing)}, extra {sorted(extra)}")
    for name in _TEXT:
        if not isinstance(record[name], str):
            raise ValueError(f"audit record field {name!r} must be a string")
    for name in _OPTIONAL_TEXT:
        if record[name] is not None and not isinstance(record[name], str):
            raise ValueError(f"audit record field {name!r} must be a string or None")
    if not isinstance(record["at"], datetime):
        raise ValueError("audit record field 'at' must be a datetime")
    reasons = record["reasons"]
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise ValueError("audit record field 'reasons' must be a list of strings")
    if not isinstance(record["details"], dict):
        raise ValueError("audit record field 'details' must be a dict")


def _clean(value: Any, depth: int = 0) -> Any:
    """`value` with storable text throughout (and nesting cut at 64 levels)."""
    if isinstance(value, str):
        text = value.replace("\x00", "\ufffd")
        return text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates → "?"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1 << 63:
        return str(value)
    if depth >= 64 and isinstance(value, (dict, list, tuple)):
        return str(value)[:1000]
    if isinstance(value, dict):
        return {_clean(str(key)): _clean(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item, depth + 1) for item in value]
    return value
