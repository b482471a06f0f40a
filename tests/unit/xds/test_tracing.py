"""Envoy's tracer from the control plane's OpenTelemetry settings: off unless tracing is on, the
collector and protocol of Giru's own exporter, the sampler's share; every resource passes
Envoy's own message types (the snapshot packs them)."""

from __future__ import annotations

from typing import Any

import pytest

from giru.errors import ConfigError
from giru.settings import OtelSettings, Settings, XdsSettings
from giru.xds.snapshot import resource_dicts
from giru.xds.topology import Address, EdgeTopology
from giru.xds.tracing import OTLP, edge_tracing

OFF = OtelSettings()


def _snapshot(env: dict[str, str]) -> dict[str, Any]:
    xds = XdsSettings(listen="127.0.0.1:19000", workers=["w1=127.0.0.1:8101"])
    settings = Settings(listen="127.0.0.1:18000", xds=xds)
    tracing = edge_tracing(settings.otel, env)
    return resource_dicts(EdgeTopology.from_settings(settings, tracing=tracing), [], None)


def _manager(snapshot: dict[str, Any]) -> dict[str, Any]:
    listener = snapshot["Listener"][0]
    manager: dict[str, Any] = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return manager


def _otlp(snapshot: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in snapshot["Cluster"] if c["name"] == OTLP), None)


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"},
    ],
)
def test_envoy_does_not_trace_while_tracing_is_off(env: dict[str, str]) -> None:
    snapshot = _snapshot(env)
    assert "tracing" not in _manager(snapshot)
    assert _otlp(snapshot) is None


def test_over_grpc_envoy_exports_through_its_collector_cluster() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_SERVICE_NAME": "gw",
    }
    snapshot = _snapshot(env)
    tracing = _manager(snapshot)["tracing"]
    assert tracing["provider"]["name"] == "envoy.tracers.opentelemetry"
    config = tracing["provider"]["typed_config"]
    assert config["grpc_service"]["envoy_grpc"]["cluster_name"] == OTLP
    assert config["service_name"] == "gw-edge"
    assert tracing["random_sampling"]["value"] == 100
    cluster = _otlp(snapshot)
    assert cluster is not None
    assert cluster["type"] == "STATIC"
    socket = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert socket["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 4317}
    options = next(iter(cluster["typed_extension_protocol_options"].values()))
    assert "http2_protocol_options" in options["explicit_http_config"]


def test_over_http_envoy_posts_to_the_traces_path_of_a_named_collector() -> None:
    snapshot = _snapshot({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/otel"})
    config = _manager(snapshot)["tracing"]["provider"]["typed_config"]
    uri = config["http_service"]["http_uri"]
    assert uri["uri"] == "http://collector:4318/otel/v1/traces"
    assert uri["cluster"] == OTLP
    assert config["service_name"] == "giru-edge"
    cluster = _otlp(snapshot)
    assert cluster is not None
    assert cluster["type"] == "STRICT_DNS"


def test_an_https_collector_is_reached_over_tls_checked_against_the_system_roots() -> None:
    env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://otel.example.com/v1/t"}
    tracing = edge_tracing(OFF, env)
    assert tracing is not None
    assert tracing.collector == Address("otel.example.com", 443)
    assert tracing.path == "/v1/t"  # the traces endpoint is used as it is
    cluster = _otlp(_snapshot(env))
    assert cluster is not None
    assert cluster["transport_socket"]["typed_config"]["sni"] == "otel.example.com"


@pytest.mark.parametrize(
    ("sampler", "argument", "percent"),
    [
        ("parentbased_traceidratio", "0.01", 1.0),
        ("traceidratio", "", 100.0),
        ("parentbased_always_off", "", 0.0),
        ("always_on", "", 100.0),
        ("parentbased_traceidratio", "7", 100.0),
        ("parentbased_traceidratio", "a lot", 100.0),
    ],
)
def test_envoy_samples_new_traces_like_giru(sampler: str, argument: str, percent: float) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
        "OTEL_TRACES_SAMPLER": sampler,
        "OTEL_TRACES_SAMPLER_ARG": argument,
    }
    tracing = edge_tracing(OFF, env)
    assert tracing is not None
    assert tracing.sampling_percent == pytest.approx(percent)


def test_enabled_without_an_endpoint_uses_the_otlp_default_address() -> None:
    tracing = edge_tracing(OtelSettings(enabled=True), {})
    assert tracing is not None
    assert (tracing.collector, tracing.path) == (Address("localhost", 4318), "/v1/traces")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "http/protobuf or grpc"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"}, "not an http"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:99999"}, "bad port"),
    ],
)
def test_bad_tracing_variables_are_refused_clearly(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        edge_tracing(OtelSettings(enabled=True), env)
