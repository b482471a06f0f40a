"""The SDK's OTLP/gRPC span exporter, its request built from the bytes Giru's encoder writes
(giru.telemetry.otlp): parsing them is one C call, where the SDK's encoder makes a protobuf
object per span, attribute and value in Python. Everything else is the SDK's."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan

from giru.telemetry.otlp import SpanEncoder

__all__ = ["GrpcSpanExporter"]


class GrpcSpanExporter(OTLPSpanExporter):
    """`OTLPSpanExporter` translating a batch with `SpanEncoder`."""

    def __init__(self) -> None:
        super().__init__()
        self._encoder = SpanEncoder()

    def _translate_data(self, data: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
        return ExportTraceServiceRequest.FromString(self._encoder.encode(data))
