"""Giru's sampled spans, made without the SDK's per-span machinery but exported as the SDK's own.

A span of a request Giru has already decided to sample (giru.telemetry.sampling) needs no
sampler call, no context object, no lock per attribute and no validation of values Giru built
itself: a `RecordedSpan` is a name, ids, a plain dict of attributes and a status until it ends,
and then one `ReadableSpan` (the SDK's record of an ended span) to the export queue, with the
provider's resource and Giru's instrumentation scope, exactly as the SDK's span would have
handed it over (same ids scheme, trace flags and state, parent, kind, attributes, status, times).

Attribute limits set through `OTEL_[SPAN_]ATTRIBUTE_*` apply as in the SDK: the attributes go
through the SDK's `BoundedAttributes` when a limit could bite.
"""

from __future__ import annotations

import random
import traceback
from collections.abc import Callable, Mapping
from time import time_ns
from typing import Final

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits
from opentelemetry.sdk.util.instrumentation import InstrumentationInfo, InstrumentationScope
from opentelemetry.trace import Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import Attributes, AttributeValue

__all__ = ["RecordedSpan", "SpanMaker"]

_UNSET: Final = Status(StatusCode.UNSET)
_ALWAYS_FITS: Final = 128
"""No span of Giru's carries this many attributes: a count limit this high never drops one."""


class SpanMaker:
    """What every recorded span of one tracer provider shares: resource, scope and where it goes
    when it ends."""

    def __init__(
        self,
        resource: Resource,
        scope: InstrumentationScope,
        info: InstrumentationInfo,
        on_end: Callable[[ReadableSpan], None],
        limits: SpanLimits,
    ) -> None:
        self.resource = resource
        self.scope = scope
        self.info = info
        self.on_end = on_end
        count, length = limits.max_span_attributes, limits.max_span_attribute_length
        self.limits: tuple[int | None, int | None] | None = (
            (count, length)
            if length is not None or (count is not None and count < _ALWAYS_FITS)
            else None
        )

    def start(
        self,
        name: str,
        trace_id: int,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: Mapping[str, AttributeValue],
        start_time: int | None = None,
    ) -> RecordedSpan:
        """A sampled span in `trace_id` under `parent` (a client's context, or None for a new
        trace): its flags and trace state as the SDK's parent-based samplers give them."""
        random_id = parent is None or parent.trace_flags.random_trace_id
        flags = TraceFlags(TraceFlags.SAMPLED | (TraceFlags.RANDOM_TRACE_ID if random_id else 0))
        state = parent.trace_state if parent is not None else None
        context = SpanContext(trace_id, _span_id(), False, flags, state)
        return RecordedSpan(self, name, context, parent, kind, attributes, start_time)


def _span_id() -> int:
    return random.getrandbits(64) or 1


class RecordedSpan(Span):
    """A sampled span: attributes and status until `end`, then a `ReadableSpan` to export."""

    __slots__ = (
        "_attributes",
        "_context",
        "_end_time",
        "_events",
        "_kind",
        "_maker",
        "_name",
        "_parent",
        "_start_time",
        "_status",
    )

    def __init__(
        self,
        maker: SpanMaker,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: Mapping[str, AttributeValue],
        start_time: int | None,
    ) -> None:
        self._maker = maker
        self._name = name
        self._context = context
        self._parent = parent
        self._kind = kind
        self._attributes: dict[str, AttributeValue] = {}
        self._events: list[Event] = []
        self._status = _UNSET
        self._end_time: int | None = None
        self.set_attributes(attributes)
        self._start_time = start_time if start_time is not None else time_ns()

    def child(
        self,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, AttributeValue],
        start_time: int | None = None,
    ) -> RecordedSpan:
        """A span under this one (sampled as its parent is, with its flags and trace state)."""
        parent = self._context
        context = SpanContext(
            parent.trace_id, _span_id(), False, parent.trace_flags, parent.trace_state
        )
        return RecordedSpan(self._maker, name, context, parent, kind, attributes, start_time)

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return self._end_time is None

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        """`set_attribute` of each, in one loop (a request span gets ~20)."""
        if self._end_time is not None:
            return
        mine = self._attributes
        for key, value in attributes.items():
            if value is None:
                continue
            if isinstance(value, list):
                value = tuple(value)
            if key in mine:
                del mine[key]
            mine[key] = value

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """As the SDK's span: None is not a value, a list is kept as a tuple, a key set again
        moves to the end; nothing once the span has ended."""
        if self._end_time is not None or value is None:
            return
        if isinstance(value, list):
            value = tuple(value)
        self._attributes.pop(key, None)
        self._attributes[key] = value

    def add_event(
        self, name: str, attributes: Attributes = None, timestamp: int | None = None
    ) -> None:
        if self._end_time is None:
            when = timestamp if timestamp is not None else time_ns()
            self._events.append(Event(name, attributes, when))

    def record_exception(
        self,
        exception: BaseException,
        attributes: Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        kind = type(exception)
        module = kind.__module__
        details: dict[str, AttributeValue] = {
            "exception.type": f"{module}.{kind.__qualname__}"
            if module and module != "builtins"
            else kind.__qualname__,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        self.add_event("exception", {**details, **(attributes or {})}, timestamp)

    def update_name(self, name: str) -> None:
        if self._end_time is None:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """As the SDK's span: UNSET changes nothing, and OK, once set, stays."""
        if self._end_time is not None or self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, StatusCode):
            status = Status(status, description)
        if status.status_code is not StatusCode.UNSET:
            self._status = status

    def end(self, end_time: int | None = None) -> None:
        """The span's record to the export queue; once."""
        if self._end_time is not None:
            return
        self._end_time = end_time if end_time is not None else time_ns()
        maker = self._maker
        attributes: Mapping[str, AttributeValue] = self._attributes
        if maker.limits is not None:
            count, length = maker.limits
            attributes = BoundedAttributes(count, attributes, immutable=True, max_value_len=length)
        maker.on_end(
            ReadableSpan(
                name=self._name,
                context=self._context,
                parent=self._parent,
                resource=maker.resource,
                attributes=attributes,
                events=self._events,
                kind=self._kind,
                status=self._status,
                start_time=self._start_time,
                end_time=self._end_time,
                instrumentation_info=maker.info,
                instrumentation_scope=maker.scope,
            )
        )
