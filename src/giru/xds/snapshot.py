"""The snapshot builder: what Envoy should hold, from the edge topology, the virtual servers and
the TLS certificate. Pure: the same inputs give the same snapshot (tests compare it with files).

Routing (docs/deployment/local-stack.md):
- `/api`, `/ui` go to the control plane, without ext_authz (the API checks its own keys);
- a legacy session id starts with its worker's name (`w1.…`, header `Mcp-Session-Id` or the
  2024-11-05 `sessionId` query), so its requests go back to that worker; when that worker is
  down they fall through to any worker, which answers the spec's 404 and the client
  re-initialises;
- a 2026-07-28 retry whose requestState names a worker goes back to that worker;
- everything else on `/mcp`, `/mcp/<virtual server>`, `/sse`, `/messages` goes to the healthy
  worker with the fewest requests (of two picked at random); any other path is a 404 at the edge.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format, symbol_database

from giru.errors import ConfigError
from giru.settings import Settings
from giru.xds.resources import (
    CLUSTER,
    ENDPOINT,
    LISTENER,
    ROUTE,
    SECRET,
    TYPE_ORDER,
    Snapshot,
    pack,
)

__all__ = [
    "CERT_SECRET",
    "ROUTES",
    "Address",
    "EdgeTopology",
    "TlsFiles",
    "Worker",
    "build_snapshot",
    "parse_address",
    "resource_dicts",
]

ROUTES = "giru_routes"
CERT_SECRET = "giru_edge_cert"  # noqa: S105 - the SDS resource name, not a secret
WORKERS = "giru_workers"
CONTROL = "giru_control"
AUTHZ = "giru_authz"
XDS = "giru_xds"
"""The bootstrap's static cluster (deploy/envoy/bootstrap.yaml): ADS and SDS come from it."""

_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
_FILTERS = "type.googleapis.com/envoy.extensions.filters.http."
_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_INTERNAL_HEADERS = ("x-giru-worker", "x-giru-client", "x-giru-node")
_NOT_FOUND = '{"error":"not found"}'
_PREVIOUS_HOSTS = {
    "name": "envoy.retry_host_predicates.previous_hosts",
    "typed_config": {
        "@type": "type.googleapis.com/"
        "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
    },
}
_WORKER_HEADER = "x-giru-worker"
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


@dataclass(frozen=True, order=True)
class Address:
    host: str
    port: int

    def socket(self) -> dict[str, Any]:
        return {"socket_address": {"address": self.host, "port_value": self.port}}


@dataclass(frozen=True, order=True)
class Worker:
    name: str
    address: Address


@dataclass(frozen=True)
class TlsFiles:
    """The edge certificate as read from its files (PEM)."""

    chain: str
    key: str


@dataclass(frozen=True)
class EdgeTopology:
    """Where things are: Envoy's listeners, the workers, ext_authz and the control plane."""

    edge: Address
    tls: Address | None
    workers: tuple[Worker, ...]
    authz: tuple[Address, ...]
    control: Address
    session_idle_s: float
    max_body_bytes: int
    access_log: str = "/dev/stdout"

    @classmethod
    def from_settings(cls, settings: Settings, *, control_port: int | None = None) -> EdgeTopology:
        """`control_port`: the port this process really listens on (when it asked for 0)."""
        xds = settings.xds
        control = parse_address(xds.control) if xds.control else None
        if control is None:
            host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # noqa: S104
            control = Address(host, control_port or settings.port)
        workers = tuple(sorted(_worker(entry) for entry in xds.workers))
        names = [worker.name for worker in workers]
        if len(set(names)) != len(names):
            raise ConfigError(f"xds.workers: worker names must be unique, got {names}")
        if xds.tls_listen and not (xds.tls_cert and xds.tls_key):
            raise ConfigError("xds.tls_listen needs xds.tls_cert and xds.tls_key (PEM files)")
        return cls(
            edge=parse_address(xds.edge_listen),
            tls=parse_address(xds.tls_listen) if xds.tls_listen else None,
            workers=workers,
            authz=tuple(parse_address(entry) for entry in xds.authz),
            control=control,
            session_idle_s=settings.sessions.idle_timeout_s,
            max_body_bytes=settings.http.max_body_bytes,
            access_log=xds.access_log,
        )


def parse_address(text: str) -> Address:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{text!r} is not HOST:PORT")
    return Address(host.strip("[]"), int(port))


def _worker(entry: str) -> Worker:
    name, sep, address = entry.partition("=")
    if not sep or not name:
        raise ConfigError(f"xds.workers: {entry!r} is not NAME=HOST:PORT")
    return Worker(name, parse_address(address))


def build_snapshot(
    topology: EdgeTopology, virtual_servers: Iterable[str], tls: TlsFiles | None
) -> Snapshot:
    """Every resource Envoy needs, checked against Envoy's own message types."""
    clusters = _clusters(topology)
    endpoints = _endpoints(topology)
    listeners = [_listener("giru_http", topology.edge, None, topology)]
    if topology.tls is not None and tls is not None:
        listeners.append(_listener("giru_https", topology.tls, CERT_SECRET, topology))
    resources: dict[str, dict[str, Any]] = {
        CLUSTER: {c["name"]: c for c in clusters},
        ENDPOINT: {e["cluster_name"]: e for e in endpoints},
        LISTENER: {listener["name"]: listener for listener in listeners},
        ROUTE: {ROUTES: _routes(topology, sorted(set(virtual_servers)))},
        SECRET: {} if tls is None else {CERT_SECRET: _secret(tls)},
    }
    return Snapshot(
        {
            type_url: {name: pack(type_url, body) for name, body in named.items()}
            for type_url, named in resources.items()
        }
    )


def resource_dicts(
    topology: EdgeTopology, virtual_servers: Iterable[str], tls: TlsFiles | None
) -> dict[str, Any]:
    """The snapshot in proto3 JSON, for snapshot files and `giru xds` output."""
    snapshot = build_snapshot(topology, virtual_servers, tls)
    out: dict[str, Any] = {}
    for type_url in TYPE_ORDER:
        out[type_url.rpartition(".")[2]] = [
            json.loads(json_format.MessageToJson(_unpack(packed), preserving_proto_field_name=True))
            for packed in snapshot.of(type_url)
        ]
    return out


def _unpack(packed: Any) -> Any:
    message = symbol_database.Default().GetSymbol(packed.TypeName())()
    packed.Unpack(message)
    return message


# --- clusters and endpoints ---------------------------------------------------------------


def _clusters(topology: EdgeTopology) -> list[dict[str, Any]]:
    clusters = [
        _eds_cluster(WORKERS, http_health="/healthz"),
        _eds_cluster(CONTROL, http_health="/healthz"),
    ]
    if topology.authz:
        clusters.append(_eds_cluster(AUTHZ, http_health=None, http2=True))
    for worker in topology.workers:
        clusters.append(_eds_cluster(_worker_cluster(worker), http_health="/healthz"))
        clusters.append(
            {
                "name": _session_cluster(worker),
                "connect_timeout": "1s",
                "lb_policy": "CLUSTER_PROVIDED",
                "cluster_type": {
                    "name": "envoy.clusters.aggregate",
                    "typed_config": {
                        "@type": "type.googleapis.com/"
                        "envoy.extensions.clusters.aggregate.v3.ClusterConfig",
                        "clusters": [_worker_cluster(worker), WORKERS],
                    },
                },
            }
        )
    return clusters


def _eds_cluster(name: str, *, http_health: str | None, http2: bool = False) -> dict[str, Any]:
    """An EDS cluster over ADS with active health checks (HTTP on `http_health`, else a TCP
    connect) and outlier detection, so a dead worker stops getting requests within about a
    second. ext_authz (`http2`, no HTTP check) is stricter: Envoy does not retry a failed check,
    so one failed connect ejects the host and checks run twice a second.

    Least request (two random choices), not round robin: requests differ wildly in length, from
    a tool call of a millisecond to an SSE stream open for minutes."""
    protocol = (
        {"http2_protocol_options": {"connection_keepalive": {"interval": "30s", "timeout": "5s"}}}
        if http2
        else {"http_protocol_options": {}}
    )
    cluster: dict[str, Any] = {
        "name": name,
        "type": "EDS",
        "eds_cluster_config": {"eds_config": {"ads": {}, "resource_api_version": "V3"}},
        "connect_timeout": "1s",
        "lb_policy": "LEAST_REQUEST",
        "common_lb_config": {"healthy_panic_threshold": {"value": 0}},
        "typed_extension_protocol_options": {
            _PROTOCOL_OPTIONS: {
                "@type": "type.googleapis.com/" + _PROTOCOL_OPTIONS,
                "common_http_protocol_options": {"idle_timeout": "300s"},
                "explicit_http_config": protocol,
            }
        },
        "circuit_breakers": {
            "thresholds": [
                {
                    "priority": "DEFAULT",
                    "max_connections": 4096,
                    "max_pending_requests": 4096,
                    "max_requests": 8192,
                    "max_retries": 16,
                }
            ]
        },
        "outlier_detection": {
            "consecutive_5xx": 20,
            "consecutive_gateway_failure": 3,
            "consecutive_local_origin_failure": 1 if http2 else 2,
            "split_external_local_origin_errors": True,
            "interval": "1s",
            "base_ejection_time": "5s",
            "max_ejection_percent": 100,
        },
        "close_connections_on_host_health_failure": True,
    }
    check = (
        {"http_health_check": {"path": http_health}} if http_health else {"tcp_health_check": {}}
    )
    cluster["health_checks"] = [
        {
            "timeout": "1s",
            "interval": "0.5s" if http2 else "1s",
            "no_traffic_interval": "0.5s" if http2 else "1s",
            "unhealthy_threshold": 1 if http2 else 2,
            "healthy_threshold": 1,
            **check,
        }
    ]
    return cluster


def _endpoints(topology: EdgeTopology) -> list[dict[str, Any]]:
    assignments = [
        _assignment(WORKERS, [worker.address for worker in topology.workers]),
        _assignment(CONTROL, [topology.control]),
    ]
    if topology.authz:
        assignments.append(_assignment(AUTHZ, list(topology.authz)))
    for worker in topology.workers:
        assignments.append(_assignment(_worker_cluster(worker), [worker.address]))
    return assignments


def _assignment(cluster: str, addresses: list[Address]) -> dict[str, Any]:
    return {
        "cluster_name": cluster,
        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": a.socket()}} for a in addresses]}],
    }


def _worker_cluster(worker: Worker) -> str:
    return f"giru_worker_{worker.name}"


def _session_cluster(worker: Worker) -> str:
    return f"giru_session_{worker.name}"


# --- listeners --------------------------------------------------------------------------------


def _listener(
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
    filters.append(
        {
            "name": "envoy.filters.http.buffer",
            "typed_config": {
                "@type": _FILTERS + "buffer.v3.Buffer",
                "max_request_bytes": topology.max_body_bytes,
            },
        }
    )
    if topology.workers:
        filters.append(
            {
                "name": "envoy.filters.http.lua",
                "typed_config": {
                    "@type": _FILTERS + "lua.v3.Lua",
                    "default_source_code": {"inline_string": _RETRY_ROUTING},
                },
            }
        )
    filters.append(
        {
            "name": "envoy.filters.http.router",
            "typed_config": {
                "@type": _FILTERS + "router.v3.Router",
                "suppress_envoy_headers": True,
            },
        }
    )
    return {
        "@type": _HCM + "HttpConnectionManager",
        "stat_prefix": name,
        "codec_type": "AUTO",
        "use_remote_address": True,
        "xff_num_trusted_hops": 0,
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "REJECT_REQUEST",
        "server_name": "giru",
        "max_request_headers_kb": 60,
        "request_headers_timeout": "10s",
        "stream_idle_timeout": "300s",
        "drain_timeout": "10s",
        "common_http_protocol_options": {
            "idle_timeout": "3600s",
            "max_headers_count": 100,
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


def _ext_authz() -> dict[str, Any]:
    """Edge authentication by the workers' own key logic; an unreachable or failing service is
    a refusal (fail closed)."""
    return {
        "name": "envoy.filters.http.ext_authz",
        "typed_config": {
            "@type": _FILTERS + "ext_authz.v3.ExtAuthz",
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


# --- routes -------------------------------------------------------------------------------------


def _routes(topology: EdgeTopology, virtual_servers: list[str]) -> dict[str, Any]:
    routes: list[dict[str, Any]] = [
        _to_control({"path": "/api"}),
        _to_control({"prefix": "/api/"}),
        _to_control({"path": "/ui"}),
        _to_control({"prefix": "/ui/"}),
        _to_workers({"path": "/healthz"}, WORKERS, topology, authz=False),
        _to_workers({"path": "/readyz"}, WORKERS, topology, authz=False),
    ]
    for worker in topology.workers:
        session = _session_cluster(worker)
        prefix = {"prefix": f"{worker.name}."}
        routes.append(
            _to_workers(
                {"prefix": "/", "headers": [_exact(_WORKER_HEADER, worker.name)]},
                session,
                topology,
            )
        )
        routes.append(
            _to_workers(
                {"prefix": "/", "headers": [{"name": "mcp-session-id", "string_match": prefix}]},
                session,
                topology,
            )
        )
        routes.append(
            _to_workers(
                {
                    "prefix": "/",
                    "query_parameters": [{"name": "sessionId", "string_match": prefix}],
                },
                session,
                topology,
            )
        )
    for path in ("/mcp", "/mcp/", "/sse", "/messages"):
        routes.append(_to_workers({"path": path}, WORKERS, topology))
    for name in virtual_servers:
        routes.append(_to_workers({"path": f"/mcp/{name}"}, WORKERS, topology))
        routes.append(_to_workers({"prefix": f"/mcp/{name}/"}, WORKERS, topology))
    routes.append(
        {
            "name": "not_found",
            "match": {"prefix": "/"},
            "direct_response": {"status": 404, "body": {"inline_string": _NOT_FOUND}},
            "response_headers_to_add": [_header("content-type", "application/json")],
        }
    )
    return {
        "name": ROUTES,
        "internal_only_headers": list(_INTERNAL_HEADERS),
        "request_headers_to_remove": list(_INTERNAL_HEADERS),
        "virtual_hosts": [{"name": "giru", "domains": ["*"], "routes": routes}],
    }


def _to_control(match: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "match": dict(match),
        "route": {"cluster": CONTROL, "timeout": "60s"},
        "typed_per_filter_config": _authz_off(),
    }


def _to_workers(
    match: Mapping[str, Any], cluster: str, topology: EdgeTopology, *, authz: bool = True
) -> dict[str, Any]:
    """No overall timeout (a response may be a long SSE stream); idle streams end with the
    session idle timeout. Retries only when the request cannot have reached a worker."""
    route: dict[str, Any] = {
        "match": dict(match),
        "route": {
            "cluster": cluster,
            "timeout": "0s",
            "idle_timeout": f"{int(topology.session_idle_s)}s",
            "retry_policy": {
                "retry_on": "connect-failure,refused-stream,reset-before-request",
                "num_retries": 2,
                "retry_host_predicate": [_PREVIOUS_HOSTS],
                "host_selection_retry_max_attempts": "3",
            },
        },
    }
    if not authz:
        route["typed_per_filter_config"] = _authz_off()
    return route


def _authz_off() -> dict[str, Any]:
    return {
        "envoy.filters.http.ext_authz": {
            "@type": _FILTERS + "ext_authz.v3.ExtAuthzPerRoute",
            "disabled": True,
        }
    }


def _exact(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "string_match": {"exact": value}}


def _header(key: str, value: str) -> dict[str, Any]:
    return {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}


def _secret(tls: TlsFiles) -> dict[str, Any]:
    return {
        "name": CERT_SECRET,
        "tls_certificate": {
            "certificate_chain": {"inline_string": tls.chain},
            "private_key": {"inline_string": tls.key},
        },
    }
