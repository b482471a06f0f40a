"""Giru's OTLP exporters send what the SDK's own would send, encoded by Giru's encoder."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SpanExportResult

from giru.telemetry.otlp_grpc import GrpcSpanExporter
from giru.telemetry.otlp_http import HttpSpanExporter
from tests.unit.telemetry.readable import span


class Collector:
    """An OTLP/HTTP collector on a thread: keeps each body, answers `status`."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.status = 200
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                collector.bodies.append(self.rfile.read(length))
                self.send_response(collector.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[Collector]:
    running = Collector()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", running.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "5")
    yield running
    running.server.shutdown()
    running.server.server_close()


BATCH = [span("a"), span("b", attributes={"n": 1, "flag": True}), span("c", parent=None)]


def test_the_http_exporter_posts_the_request_the_sdks_exporter_posts(
    collector: Collector,
) -> None:
    ours, theirs = HttpSpanExporter(), OTLPSpanExporter()
    assert ours.export(BATCH) is SpanExportResult.SUCCESS
    assert theirs.export(BATCH) is SpanExportResult.SUCCESS
    ours.shutdown()
    theirs.shutdown()  # type: ignore[no-untyped-call]  # unannotated in the SDK
    mine, sdks = (ExportTraceServiceRequest.FromString(body) for body in collector.bodies)
    assert mine == sdks == encode_spans(BATCH)


def test_a_refused_http_export_is_a_failure(collector: Collector) -> None:
    collector.status = 400
    exporter = HttpSpanExporter()
    assert exporter.export(BATCH) is SpanExportResult.FAILURE
    exporter.shutdown()
    assert len(collector.bodies) == 1


def test_a_shut_down_http_exporter_sends_nothing(collector: Collector) -> None:
    exporter = HttpSpanExporter()
    exporter.shutdown()
    assert exporter.export(BATCH) is SpanExportResult.FAILURE
    assert collector.bodies == []


def test_the_grpc_exporter_builds_the_request_the_sdks_encoder_builds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:4317")
    exporter = GrpcSpanExporter()
    try:
        assert exporter._translate_data(BATCH) == encode_spans(BATCH)
    finally:
        exporter.shutdown()
