"""Tracing with OpenTelemetry, off by default; the standard `OTEL_*` variables configure it.

On when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is set (or
`GIRU_OTEL__ENABLED=true`), off again with `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
The exporter is OTLP over `http/protobuf` (default) or `grpc` (`OTEL_EXPORTER_OTLP_[TRACES_]
PROTOCOL`): the SDK's, reading their own endpoint, headers, timeout and TLS variables, with
Giru's encoder (giru.telemetry.otlp) in place of the SDK's. The sampler
is the SDK's (`OTEL_TRACES_SAMPLER`, default `parentbased_always_on`; giru.telemetry.sampling);
the export queue is bounded (`OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`,
`OTEL_BSP_SCHEDULE_DELAY`) and what it drops is counted in `giru_trace_spans_dropped_total`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from random import getrandbits
from typing import Final

from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Tracer,
    set_span_in_context,
)
from opentelemetry.util.types import AttributeValue
from prometheus_client import CollectorRegistry, Counter

from giru import __version__
from giru.errors import ConfigError
from giru.settings import OtelSettings
from giru.telemetry.export import SpanQueue
from giru.telemetry.sampling import sampler_from
from giru.telemetry.spans import RecordedSpan, SpanMaker

__all__ = ["Tracing", "tracing_wanted"]

_ENDPOINTS: Final = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_PROTOCOLS: Final = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
_SHUTDOWN_S: Final = 15.0


def tracing_wanted(settings: OtelSettings, env: Mapping[str, str]) -> bool:
    """Whether the settings and the standard variables turn tracing on."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return settings.enabled or any(env.get(name, "").strip() for name in _ENDPOINTS)


def _exporter(env: Mapping[str, str]) -> SpanExporter:
    protocol = next((env[n].strip() for n in _PROTOCOLS if env.get(n, "").strip()), "http/protobuf")
    # imported when chosen: the grpc exporter loads grpcio, which http/protobuf never needs
    if protocol == "http/protobuf":
        from giru.telemetry.otlp_http import HttpSpanExporter

        return HttpSpanExporter()
    if protocol == "grpc":
        from giru.telemetry.otlp_grpc import GrpcSpanExporter

        return GrpcSpanExporter()
    raise ConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL {protocol!r}: use http/protobuf or grpc")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    try:
        return max(1, int(value)) if value else default
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, not {value[:32]!r}") from exc


def _context(parent: SpanContext | None) -> Context:
    return set_span_in_context(NonRecordingSpan(parent)) if parent is not None else Context()


class _Resource(Resource):
    """The SDK's resource, hashed once: the OTLP encoder hashes a span's resource per span (a
    sorted JSON dump of its attributes each time), and this one never changes."""

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource.attributes, resource.schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash


class _PresetIds(RandomIdGenerator):
    """Random ids, except a root span's trace id when the sampler was asked about it first."""

    def __init__(self) -> None:
        self.next_trace_id: int | None = None

    def generate_trace_id(self) -> int:
        preset, self.next_trace_id = self.next_trace_id, None
        return preset if preset is not None else super().generate_trace_id()


class Tracing:
    """The tracer provider of one app instance; `tracer` makes Giru's spans."""

    def __init__(
        self,
        settings: OtelSettings,
        registry: CollectorRegistry,
        *,
        exporter: SpanExporter | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self.trust_client_context = settings.trust_client_context
        self.dropped = Counter(
            "giru_trace_spans_dropped_total",
            "Sampled spans not exported, by reason: queue_full (the export queue, "
            "OTEL_BSP_MAX_QUEUE_SIZE, was full) or export_failed (the collector refused or "
            "is down).",
            ["reason"],
            registry=registry,
        )
        attributes = {SERVICE_VERSION: __version__}
        if not env.get("OTEL_SERVICE_NAME"):
            attributes[SERVICE_NAME] = "giru"
        self._ids = _PresetIds()
        sampler, self._decide = sampler_from(env)
        resource = _Resource(Resource.create(attributes))
        self.provider = TracerProvider(sampler=sampler, resource=resource, id_generator=self._ids)
        self.queue = SpanQueue(
            exporter if exporter is not None else _exporter(env),
            max_queue=_int(env, "OTEL_BSP_MAX_QUEUE_SIZE", 2048),
            batch_size=_int(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512),
            delay_s=_int(env, "OTEL_BSP_SCHEDULE_DELAY", 5000) / 1000,
            on_drop=lambda reason, count: self.dropped.labels(reason).inc(count),
        )
        self.provider.add_span_processor(self.queue)
        self.tracer: Tracer = self.provider.get_tracer("giru", __version__)
        sdk_tracer = self.tracer
        assert isinstance(sdk_tracer, SdkTracer)
        self._spans = SpanMaker(
            resource,
            sdk_tracer._instrumentation_scope,
            sdk_tracer.instrumentation_info,
            self.queue.put,
            SpanLimits(),
        )

    def decide(self, parent: SpanContext | None) -> tuple[int, bool | None]:
        """The trace id of a request under `parent` (a client's remote context; None: a new
        trace) and whether it is sampled, before any span or attribute exists: a flag test or
        one comparison for the standard samplers (giru.telemetry.sampling); None for a sampler
        only the SDK knows, which decides when `start_request` starts the span."""
        trace_id = parent.trace_id if parent is not None else getrandbits(128) or 1
        return trace_id, self._decide(parent, trace_id) if self._decide is not None else None

    def start_request(
        self,
        name: str,
        parent: SpanContext | None,
        trace_id: int,
        attributes: Mapping[str, AttributeValue],
        start_time: int,
    ) -> Span:
        """The server span of a request `decide` sampled (or left to the SDK's sampler: then it
        may not record), in trace `trace_id`."""
        if self._decide is not None:  # sampled already: the span is Giru's record (spans.py)
            return self._spans.start(
                name, trace_id, parent, SpanKind.SERVER, attributes, start_time
            )
        if parent is None:
            self._ids.next_trace_id = trace_id  # the SDK's span gets the id just sampled
        return self.tracer.start_span(
            name,
            context=_context(parent),
            kind=SpanKind.SERVER,
            attributes=attributes,
            start_time=start_time,
        )

    def start_child(
        self,
        parent: Span,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, AttributeValue],
        start_time: int | None = None,
    ) -> Span:
        """A span under `parent`, a recording span `start_request` gave."""
        if isinstance(parent, RecordedSpan):
            return parent.child(name, kind, attributes, start_time)
        return self.tracer.start_span(
            name,
            context=set_span_in_context(parent),
            kind=kind,
            attributes=attributes,
            start_time=start_time,
        )

    @classmethod
    def from_settings(cls, settings: OtelSettings, registry: CollectorRegistry) -> Tracing | None:
        """The app's tracing, or None when it is off (the default: no cost at all)."""
        return cls(settings, registry) if tracing_wanted(settings, os.environ) else None

    async def aclose(self) -> None:
        """Export what is queued (bounded) and stop, off the event loop."""
        await asyncio.wait_for(asyncio.to_thread(self.provider.shutdown), _SHUTDOWN_S)
