"""Ended spans as the SDK hands them to an exporter, made directly for the encoder's tests."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.span import TraceState

RESOURCE = Resource({"service.name": "giru", "service.version": "0.1.0"})
SCOPE = InstrumentationScope("giru", "0.1.0")
REMOTE = SpanContext(
    0xABCDEF0123456789ABCDEF0123456789,
    0x1122334455667788,
    True,
    TraceFlags(TraceFlags.SAMPLED),
    TraceState([("vendor", "v1"), ("other", "x=y")]),
)


def span(
    name: str = "tools/call up__echo",
    *,
    parent: SpanContext | None = REMOTE,
    resource: Resource = RESOURCE,
    scope: InstrumentationScope | None = SCOPE,
    **fields: object,
) -> ReadableSpan:
    trace_state = parent.trace_state if parent is not None else None
    flags = REMOTE.trace_flags
    context = SpanContext(REMOTE.trace_id, 0x0102030405060708, False, flags, trace_state)
    made: dict[str, object] = {
        "kind": SpanKind.SERVER,
        "attributes": {"mcp.method.name": "tools/call", "giru.client": "bench"},
        "start_time": 1_700_000_000_000_000_000,
        "end_time": 1_700_000_000_000_250_000,
    }
    made.update(fields)
    return ReadableSpan(
        name=name,
        context=context,
        parent=parent,
        resource=resource,
        instrumentation_scope=scope,
        **made,  # type: ignore[arg-type]
    )
