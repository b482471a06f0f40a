"""Tracing is off by default; the standard OTEL_* variables turn it on and configure it."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from giru.errors import ConfigError
from giru.settings import OtelSettings
from giru.telemetry.otlp_grpc import GrpcSpanExporter as GrpcExporter
from giru.telemetry.otlp_http import HttpSpanExporter as HttpExporter
from giru.telemetry.tracing import Tracing, tracing_wanted

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


@pytest.mark.parametrize(
    ("env", "enabled", "wanted"),
    [
        ({}, False, False),
        (ENDPOINT, False, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, False, True),
        ({}, True, True),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "true"}, False, False),
        ({**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"}, True, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": " "}, False, False),
    ],
)
def test_tracing_is_on_only_when_asked_for(
    env: dict[str, str], enabled: bool, wanted: bool
) -> None:
    assert tracing_wanted(OtelSettings(enabled=enabled), env) is wanted


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        (ENDPOINT, HttpExporter),
        ({**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, GrpcExporter),
        ({**ENDPOINT, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, GrpcExporter),
        (
            {
                **ENDPOINT,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            },
            HttpExporter,
        ),
    ],
)
def test_the_protocol_variable_picks_the_exporter(env: dict[str, str], kind: type) -> None:
    tracing = Tracing(OtelSettings(), CollectorRegistry(), env=env)
    try:
        assert isinstance(tracing.queue._exporter, kind)
    finally:
        tracing.provider.shutdown()


def test_an_unknown_protocol_stops_the_start_with_a_message() -> None:
    env = {**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}
    with pytest.raises(ConfigError, match="http/protobuf or grpc"):
        Tracing(OtelSettings(), CollectorRegistry(), env=env)


def test_the_service_is_named_giru_unless_otel_service_name_says_otherwise() -> None:
    exporter = InMemorySpanExporter()
    named = Tracing(OtelSettings(), CollectorRegistry(), exporter=exporter, env={})
    assert named.provider.resource.attributes["service.name"] == "giru"
    named.provider.shutdown()
