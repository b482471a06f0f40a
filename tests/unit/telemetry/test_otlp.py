"""Giru's OTLP encoder writes the message the SDK's encoder writes, field for field."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from prometheus_client import CollectorRegistry

from giru.settings import OtelSettings
from giru.telemetry.otlp import SpanEncoder
from giru.telemetry.tracing import Tracing
from tests.unit.telemetry.readable import REMOTE, span


def decoded(data: bytes) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest.FromString(data)


def assert_same(spans: Sequence[ReadableSpan]) -> None:
    ours = decoded(SpanEncoder().encode(spans))
    theirs = encode_spans(spans)
    assert MessageToDict(ours) == MessageToDict(theirs)
    assert ours == theirs
    assert [rs.HasField("resource") for rs in ours.resource_spans] == [
        rs.HasField("resource") for rs in theirs.resource_spans
    ]


ATTRIBUTE_VALUES = [
    pytest.param("text", id="string"),
    pytest.param("", id="empty string"),
    pytest.param("ünïcode ✓", id="non-ascii string"),
    pytest.param(True, id="true"),
    pytest.param(False, id="false"),
    pytest.param(0, id="zero"),
    pytest.param(300, id="int"),
    pytest.param(-5, id="negative int"),
    pytest.param(2**63 - 1, id="largest int64"),
    pytest.param(-(2**63), id="smallest int64"),
    pytest.param(0.0, id="zero float"),
    pytest.param(-1.5, id="float"),
    pytest.param(b"\x00\x01", id="bytes"),
    pytest.param(("a", "b"), id="strings"),
    pytest.param((1, 2, -3), id="ints"),
    pytest.param((True, False), id="bools"),
    pytest.param((), id="empty sequence"),
    pytest.param({"k": "v", "n": 1}, id="mapping"),
    pytest.param(None, id="none"),
    pytest.param("x" * 300, id="long string"),
]


@pytest.mark.parametrize("value", ATTRIBUTE_VALUES)
def test_every_kind_of_attribute_value_is_encoded_as_the_sdk_encodes_it(value: object) -> None:
    assert_same([span(attributes={"a": value, "b.key": "after"})])


def test_a_value_the_sdk_cannot_encode_is_left_out_as_the_sdk_leaves_it_out() -> None:
    assert_same([span(attributes={"big": 2**64, "kept": "yes"})])


@pytest.mark.parametrize("kind", list(SpanKind))
def test_every_span_kind_is_encoded_as_the_sdk_encodes_it(kind: SpanKind) -> None:
    assert_same([span(kind=kind)])


@pytest.mark.parametrize(
    "status",
    [
        pytest.param(Status(StatusCode.UNSET), id="unset"),
        pytest.param(Status(StatusCode.OK), id="ok"),
        pytest.param(Status(StatusCode.ERROR), id="error"),
        pytest.param(Status(StatusCode.ERROR, "upstream refused"), id="error with description"),
    ],
)
def test_a_status_is_encoded_as_the_sdk_encodes_it(status: Status) -> None:
    assert_same([span(status=status)])


def test_a_root_span_and_a_local_parent_are_encoded_as_the_sdk_encodes_them() -> None:
    local = SpanContext(REMOTE.trace_id, 0x99, False, TraceFlags(TraceFlags.SAMPLED))
    assert_same([span(parent=None), span("child", parent=local, kind=SpanKind.CLIENT)])


def test_events_links_and_dropped_counts_are_encoded_as_the_sdk_encodes_them() -> None:
    events = [
        Event("exception", {"exception.type": "ValueError", "n": 3}, 1_700_000_000_000_100_000),
        Event("bare", None, 1_700_000_000_000_200_000),
    ]
    links = [Link(REMOTE, {"why": "follows"}), Link(SpanContext(5, 6, False))]
    assert_same([span(events=events, links=links)])


def test_spans_of_several_resources_and_scopes_are_grouped_as_the_sdk_groups_them() -> None:
    other = Resource({"service.name": "other"}, "https://opentelemetry.io/schemas/1.21.0")
    scoped = InstrumentationScope("lib", None, "https://example.test/schema", {"s": "t"})
    spans = [
        span("a"),
        span("b", resource=other),
        span("c", scope=scoped),
        span("d", scope=None),
        span("e", resource=other, scope=None),
        span("f"),
    ]
    assert_same(spans)


def test_the_spans_of_a_traced_request_are_encoded_as_the_sdk_encodes_them() -> None:
    exporter = InMemorySpanExporter()
    tracing = Tracing(OtelSettings(enabled=True), CollectorRegistry(), exporter=exporter, env={})
    request = tracing.start_request("tools/call up__echo", REMOTE, REMOTE.trace_id, {}, 100)
    request.set_attributes({"giru.endpoint": "default", "jsonrpc.request.id": "1"})
    child = tracing.start_child(request, "policy decision", SpanKind.INTERNAL, {"n": 2})
    child.set_status(Status(StatusCode.ERROR))
    child.end(150)
    request.end(200)
    tracing.provider.force_flush()
    tracing.provider.shutdown()
    spans = exporter.get_finished_spans()
    assert len(spans) == 2
    assert_same(spans)


def test_one_encoder_encodes_batch_after_batch_alike() -> None:
    encoder = SpanEncoder()
    first = [span("a"), span("b", attributes={"x": 1})]
    second = [span("c", attributes={"x": 2, "mcp.method.name": "tools/list"})]
    for batch in (first, second, first):
        assert decoded(encoder.encode(batch)) == encode_spans(batch)


def test_an_empty_batch_is_an_empty_request() -> None:
    assert SpanEncoder().encode([]) == b""
    assert decoded(b"") == encode_spans([])


def test_a_remembered_value_is_never_taken_for_an_equal_one_of_another_type() -> None:
    encoder = SpanEncoder()
    for value in (1, True, 1, 1.0, "1", True):
        batch = [span(attributes={"a": value})]
        assert decoded(encoder.encode(batch)) == encode_spans(batch)
