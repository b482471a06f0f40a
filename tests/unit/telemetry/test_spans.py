"""Giru's recorded spans behave as the SDK's spans do for what Giru sets on them."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CollectorRegistry

from giru.settings import OtelSettings
from giru.telemetry.tracing import Tracing


def tracing(exporter: InMemorySpanExporter) -> Tracing:
    return Tracing(OtelSettings(enabled=True), CollectorRegistry(), exporter=exporter, env={})


def test_a_span_ends_once_and_ignores_what_comes_after() -> None:
    exporter = InMemorySpanExporter()
    made = tracing(exporter)
    span = made.start_request("request", None, 7, {"a": "1"}, 100)
    span.set_attribute("b", ["x", "y"])
    span.set_attribute("c", None)
    span.set_status(Status(StatusCode.OK))
    span.set_status(StatusCode.ERROR)
    span.end(200)
    span.set_attribute("d", "late")
    span.end(300)
    made.provider.force_flush()
    made.provider.shutdown()
    (ended,) = exporter.get_finished_spans()
    assert dict(ended.attributes or {}) == {"a": "1", "b": ("x", "y")}
    assert ended.status.status_code is StatusCode.OK
    assert (ended.start_time, ended.end_time) == (100, 200)
    assert ended.kind is SpanKind.SERVER


def test_an_attribute_length_limit_in_the_environment_applies_as_in_the_sdk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "3")
    exporter = InMemorySpanExporter()
    made = tracing(exporter)
    span = made.start_request("request", None, 7, {"a": "abcdef"}, 100)
    child = made.start_child(span, "child", SpanKind.INTERNAL, {"b": "ghijkl"})
    child.end()
    span.end()
    made.provider.force_flush()
    made.provider.shutdown()
    found = {s.name: dict(s.attributes or {}) for s in exporter.get_finished_spans()}
    assert found == {"request": {"a": "abc"}, "child": {"b": "ghi"}}
