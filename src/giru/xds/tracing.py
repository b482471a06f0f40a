"""Envoy's own spans: its OpenTelemetry tracer, configured over xDS when tracing is on in the
control plane (the same `OTEL_*` variables and `GIRU_OTEL__ENABLED` as Giru's own tracing), so a
trace starts at the edge and goes on through the worker to the upstream.

Envoy exports to the collector the control plane names, over the same protocol: OTLP/gRPC or
OTLP/HTTP (`http/protobuf`), through a cluster of its own (`giru_otlp`). It samples like Giru's
sampler (`OTEL_TRACES_SAMPLER[_ARG]`: a ratio sampler's share of new traces, all or none
otherwise) and keeps a client's decision for a trace it continues (`traceparent`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from giru.errors import ConfigError
from giru.settings import OtelSettings
from giru.telemetry.sampling import ratio
from giru.telemetry.tracing import tracing_wanted
from giru.xds.topology import Address, EdgeTracing, is_ip

__all__ = ["OTLP", "connection_tracing", "edge_tracing", "otlp_cluster"]

OTLP: Final = "giru_otlp"
"""The cluster Envoy exports its spans through."""
_SUFFIX: Final = "-edge"
_DEFAULT_PORTS: Final = {"grpc": 4317, "http/protobuf": 4318}
_ENDPOINTS: Final = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_PROTOCOLS: Final = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
_RATIO_SAMPLERS: Final = ("traceidratio", "parentbased_traceidratio")
_OFF_SAMPLERS: Final = ("always_off", "parentbased_always_off")


def edge_tracing(settings: OtelSettings, env: Mapping[str, str]) -> EdgeTracing | None:
    """Envoy's tracing from the control plane's settings and variables; None when tracing is off."""
    if not tracing_wanted(settings, env):
        return None
    protocol = _first(env, _PROTOCOLS) or "http/protobuf"
    if protocol not in _DEFAULT_PORTS:
        raise ConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL {protocol!r}: use http/protobuf or grpc")
    endpoint, generic = _first(env, _ENDPOINTS[:1]), False
    if not endpoint:
        endpoint, generic = _first(env, _ENDPOINTS[1:]), True
    url = urlsplit(endpoint or f"http://localhost:{_DEFAULT_PORTS[protocol]}")
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(f"the OTLP endpoint {endpoint[:200]!r} is not an http(s) URL")
    try:
        port = url.port or (_DEFAULT_PORTS[protocol] if url.scheme == "http" else 443)
    except ValueError as exc:
        raise ConfigError(f"the OTLP endpoint {endpoint[:200]!r} has a bad port") from exc
    path = url.path.rstrip("/") + "/v1/traces" if generic or not endpoint else url.path
    return EdgeTracing(
        collector=Address(url.hostname, port),
        protocol=protocol,
        path=path or "/",
        tls=url.scheme == "https",
        service_name=(env.get("OTEL_SERVICE_NAME", "").strip() or "giru") + _SUFFIX,
        sampling_percent=_sampling_percent(env),
    )


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str:
    return next((env[name].strip() for name in names if env.get(name, "").strip()), "")


def _sampling_percent(env: Mapping[str, str]) -> float:
    """The share of new traces Envoy samples, as Giru's sampler would (the SDK's names; a bad
    or missing ratio is 1.0, as in the SDK)."""
    sampler = env.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if sampler in _OFF_SAMPLERS:
        return 0.0
    if sampler not in _RATIO_SAMPLERS:
        return 100.0
    return ratio(env) * 100


def connection_tracing(tracing: EdgeTracing) -> dict[str, Any]:
    """The HTTP connection manager's `tracing`: one server span per request, named after the
    route's operation, whose context Envoy sends on to the worker in `traceparent`."""
    config: dict[str, Any] = {
        "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
        "service_name": tracing.service_name,
    }
    if tracing.protocol == "grpc":
        config["grpc_service"] = {"envoy_grpc": {"cluster_name": OTLP}, "timeout": "5s"}
    else:
        scheme = "https" if tracing.tls else "http"
        address = f"{tracing.collector.host}:{tracing.collector.port}"
        config["http_service"] = {
            "http_uri": {
                "uri": f"{scheme}://{address}{tracing.path}",
                "cluster": OTLP,
                "timeout": "5s",
            }
        }
    return {
        "random_sampling": {"value": tracing.sampling_percent},
        "provider": {"name": "envoy.tracers.opentelemetry", "typed_config": config},
    }


def otlp_cluster(tracing: EdgeTracing) -> dict[str, Any]:
    """The collector as a cluster Envoy resolves itself (a name) or takes as is (an IP)."""
    protocol: dict[str, Any] = (
        {"http2_protocol_options": {}}
        if tracing.protocol == "grpc"
        else {"http_protocol_options": {}}
    )
    options = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    collector = tracing.collector
    cluster: dict[str, Any] = {
        "name": OTLP,
        "type": "STATIC" if is_ip(collector.host) else "STRICT_DNS",
        "dns_lookup_family": "V4_PREFERRED",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            options: {"@type": "type.googleapis.com/" + options, "explicit_http_config": protocol}
        },
        "load_assignment": {
            "cluster_name": OTLP,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": collector.socket()}}]}],
        },
    }
    if tracing.tls:
        cluster["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/"
                "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": collector.host,
                "common_tls_context": {"validation_context": {"system_root_certs": {}}},
            },
        }
    return cluster
