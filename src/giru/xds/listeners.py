"""The edge's listeners: one HTTP connection manager per listener (plain and TLS), hardened after
Envoy's edge best practices, with ext_authz or the edge's own credential check, the body limit,
the retry routing and JSON access logs."""

from __future__ import annotations

from typing import Any

from giru.xds.keycheck import check_filter
from giru.xds.resources import HTTP_FILTERS
from giru.xds.topology import AUTHZ, ROUTES, Address, EdgeTopology
from giru.xds.tracing import connection_tracing

__all__ = ["listener"]

_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
_RETRY_ROUTING = """
-- A 2026-07-28 retry carrying a Giru requestState (input_required) goes back to the worker
-- that parked the call: the state starts with giru1.<worker>~ (src/giru/proxy/mrtr.py).
local methods = {["tools/call"] = true, ["prompts/get"] = true, ["resources/read"] = true}
function envoy_on_request(handle)
  if not methods[handle:headers():get("mcp-method") or ""] then
    return
  end
  local body = handle:body()
  if body == nil then
    return
  end
  local worker = string.match(
    body:getBytes(0, body:length()), '"requestState"%s*:%s*"giru1%.([%w-]+)~')
  if worker then
    handle:headers():replace("x-giru-worker", worker)
    handle:clearRouteCache()
  end
end
"""


def listener(
    name: str, address: Address, secret: str | None, topology: EdgeTopology
) -> dict[str, Any]:
    chain: dict[str, Any] = {
        "filters": [
            {
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": _connection_manager(name, topology),
            }
        ]
    }
    if secret is not None:
        chain["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/"
                "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                "common_tls_context": {
                    "tls_params": {"tls_minimum_protocol_version": "TLSv1_2"},
                    "alpn_protocols": ["h2", "http/1.1"],
                    "tls_certificate_sds_secret_configs": [
                        {
                            "name": secret,
                            "sds_config": {"ads": {}, "resource_api_version": "V3"},
                        }
                    ],
                },
            },
        }
    return {
        "name": name,
        "address": address.socket(),
        "per_connection_buffer_limit_bytes": 1024 * 1024,
        "filter_chains": [chain],
    }


def _connection_manager(name: str, topology: EdgeTopology) -> dict[str, Any]:
    """Envoy's edge best practices: the client address from the connection, not from headers;
    normalised paths; bounded headers and bodies; timeouts that still let SSE streams live."""
    filters: list[dict[str, Any]] = []
    if topology.authz:
        filters.append(_ext_authz())
    elif topology.edge_check:
        filters.append(check_filter())
    filters.append(
        {
            "name": "envoy.filters.http.buffer",
            "typed_config": {
                "@type": HTTP_FILTERS + "buffer.v3.Buffer",
                "max_request_bytes": topology.max_body_bytes,
            },
        }
    )
    if topology.workers:
        filters.append(
            {
                "name": "envoy.filters.http.lua",
                "typed_config": {
                    "@type": HTTP_FILTERS + "lua.v3.Lua",
                    "default_source_code": {"inline_string": _RETRY_ROUTING},
                },
            }
        )
    filters.append(
        {
            "name": "envoy.filters.http.router",
            "typed_config": {
                "@type": HTTP_FILTERS + "router.v3.Router",
                "suppress_envoy_headers": True,
            },
        }
    )
    manager: dict[str, Any] = {
        "@type": _HCM + "HttpConnectionManager",
        "stat_prefix": name,
        "codec_type": "AUTO",
        "use_remote_address": True,
        "xff_num_trusted_hops": 0,
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "REJECT_REQUEST",
        "server_name": "giru",
        "max_request_headers_kb": -(-topology.max_header_bytes // 1024),
        "request_headers_timeout": "10s",
        "stream_idle_timeout": "300s",
        "drain_timeout": "10s",
        "common_http_protocol_options": {
            "idle_timeout": "3600s",
            "max_headers_count": topology.max_headers,
            "headers_with_underscores_action": "REJECT_REQUEST",
        },
        "http2_protocol_options": {
            "max_concurrent_streams": 100,
            "initial_stream_window_size": 65536,
            "initial_connection_window_size": 1048576,
        },
        "rds": {
            "route_config_name": ROUTES,
            "config_source": {"ads": {}, "resource_api_version": "V3"},
        },
        "http_filters": filters,
        "access_log": [_access_log(topology.access_log)],
    }
    if topology.tracing is not None:
        manager["tracing"] = connection_tracing(topology.tracing)
    return manager


def _ext_authz() -> dict[str, Any]:
    """Edge authentication by the workers' own key logic; an unreachable or failing service is
    a refusal (fail closed)."""
    return {
        "name": "envoy.filters.http.ext_authz",
        "typed_config": {
            "@type": HTTP_FILTERS + "ext_authz.v3.ExtAuthz",
            "transport_api_version": "V3",
            # No retry_policy: Envoy 1.40 did not retry a check whose worker had just died
            # (measured: upstream_rq_retry 0); TCP health checks and outlier detection on the
            # authz cluster end that window within about a second (docs/deployment).
            "grpc_service": {"envoy_grpc": {"cluster_name": AUTHZ}, "timeout": "1s"},
            "failure_mode_allow": False,
            "status_on_error": {"code": "ServiceUnavailable"},
            "include_peer_certificate": False,
            "clear_route_cache": False,
        },
    }


def _access_log(path: str) -> dict[str, Any]:
    fields = {
        "start_time": "%START_TIME%",
        "method": "%REQ(:METHOD)%",
        "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
        "protocol": "%PROTOCOL%",
        "status": "%RESPONSE_CODE%",
        "flags": "%RESPONSE_FLAGS%",
        "details": "%RESPONSE_CODE_DETAILS%",
        "bytes_in": "%BYTES_RECEIVED%",
        "bytes_out": "%BYTES_SENT%",
        "duration_ms": "%DURATION%",
        "upstream": "%UPSTREAM_HOST%",
        "cluster": "%UPSTREAM_CLUSTER%",
        "client": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
        "request_id": "%REQ(X-REQUEST-ID)%",
        "mcp_method": "%REQ(MCP-METHOD)%",
    }
    return {
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": path,
            "log_format": {"json_format": fields},
        },
    }
