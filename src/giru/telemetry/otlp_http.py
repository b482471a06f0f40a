"""The SDK's OTLP/HTTP span exporter, sending the bytes Giru's encoder writes (giru.telemetry.otlp).

Everything but the encoding is the SDK's: endpoint, headers, TLS, compression, timeout, retries,
the request size limit and the exporter's own metrics, read from the same `OTEL_*` variables.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.http._common import (
    RequestPayloadTooLargeError,
    _is_request_too_large,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.semconv.attributes.http_attributes import HTTP_RESPONSE_STATUS_CODE

from giru.telemetry.otlp import SpanEncoder

__all__ = ["HttpSpanExporter"]


class HttpSpanExporter(OTLPSpanExporter):
    """`OTLPSpanExporter` whose `export` is the SDK's with `SpanEncoder` in place of
    `encode_spans` (the only change; the SDK gives no hook for it)."""

    def __init__(self) -> None:
        super().__init__()
        self._encoder = SpanEncoder()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        with self._metrics.export_operation(len(spans)) as result:
            data = self._encoder.encode(spans)
            if _is_request_too_large(data, self._max_request_size):
                result.error = RequestPayloadTooLargeError(
                    f"Serialized span request size {len(data)} bytes exceeds max_request_size "
                    f"{self._max_request_size} bytes."
                )
                return SpanExportResult.FAILURE
            exported = self._client.export(data)
            if not exported.success:
                result.error = exported.error
                status = exported.status_code
                result.error_attrs = (
                    {HTTP_RESPONSE_STATUS_CODE: status} if status is not None else None
                )
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """The SDK's shutdown (typed here: the SDK's method carries no annotations)."""
        super().shutdown()  # type: ignore[no-untyped-call]  # unannotated in the SDK
