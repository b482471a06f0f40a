"""W3C Trace Context from a client: the `traceparent`/`tracestate` HTTP headers and the same keys
in an MCP request's `params._meta`, parsed strictly and bounded.

Anything malformed or oversized is ignored (the request starts a trace of its own), never an
error for the call and never copied anywhere: only the parsed ids and flags go on.
"""

from __future__ import annotations

import re
from typing import Final

from opentelemetry.trace import (
    INVALID_SPAN_ID,
    INVALID_TRACE_ID,
    SpanContext,
    TraceFlags,
    TraceState,
)

__all__ = [
    "MAX_TRACEPARENT",
    "MAX_TRACESTATE",
    "format_traceparent",
    "remote_context",
]

MAX_TRACEPARENT: Final = 256
"""Longer values are ignored unread (version 00 is 55 characters; later versions may add fields)."""
MAX_TRACESTATE: Final = 512
"""The W3C limit a propagator must accept; longer values are dropped whole."""
_TRACEPARENT: Final = re.compile(
    r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[\x21-\x7e]*)?"
)


def _span_context(traceparent: object, tracestate: object) -> SpanContext | None:
    if not isinstance(traceparent, str) or len(traceparent) > MAX_TRACEPARENT:
        return None
    match = _TRACEPARENT.fullmatch(traceparent.strip(" \t"))
    if match is None:
        return None
    version, trace_hex, span_hex, flags_hex, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if trace_id == INVALID_TRACE_ID or span_id == INVALID_SPAN_ID:
        return None
    return SpanContext(
        trace_id,
        span_id,
        is_remote=True,
        trace_flags=TraceFlags(int(flags_hex, 16) & TraceFlags.SAMPLED),
        trace_state=_trace_state(tracestate),
    )


def _trace_state(value: object) -> TraceState | None:
    if not isinstance(value, str) or not value or len(value) > MAX_TRACESTATE:
        return None
    state = TraceState.from_header([value])
    return state if len(state) else None


def remote_context(
    header_parent: str | None, header_state: str | None, meta: object
) -> SpanContext | None:
    """The client's span context to continue: `params._meta`'s when valid (MCP's own carrier,
    per message), unless the HTTP header names a span of the same trace (a hop in between, such
    as the edge proxy, that continued it); the header's alone otherwise; None without either."""
    from_meta: SpanContext | None = None
    if isinstance(meta, dict) and "traceparent" in meta:  # parsed JSON: a dict or not at all
        from_meta = _span_context(meta["traceparent"], meta.get("tracestate"))
    if header_parent is None:
        return from_meta
    from_header = _span_context(header_parent, header_state)
    if from_header is not None and (
        from_meta is None or from_header.trace_id == from_meta.trace_id
    ):
        return from_header
    return from_meta


def format_traceparent(context: SpanContext) -> str:
    """The `traceparent` value naming `context` (version 00)."""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
