"""The edge's route table: the control plane's paths, sessions and retries back to their worker,
the MCP paths of every virtual server, and a 404 for anything else."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from giru.xds.resources import HTTP_FILTERS
from giru.xds.topology import CONTROL, ROUTES, WORKERS, EdgeTopology, session_cluster

__all__ = ["route_table"]

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
"""Set by the listeners' retry routing (Lua) from a requestState; removed before a request
reaches a worker."""


def route_table(topology: EdgeTopology, virtual_servers: list[str]) -> dict[str, Any]:
    routes: list[dict[str, Any]] = [
        _to_control({"path": "/api"}),
        _to_control({"prefix": "/api/"}),
        _to_control({"path": "/ui"}),
        _to_control({"prefix": "/ui/"}),
        # Giru's OAuth authorization server (docs/identity.md): public, stateless between steps
        _to_control({"prefix": "/oauth/"}),
        _to_control({"prefix": "/.well-known/oauth-authorization-server"}),
        _to_control({"prefix": "/.well-known/openid-configuration"}),
        _to_workers({"path": "/healthz"}, WORKERS, topology, authz=False),
        _to_workers({"path": "/readyz"}, WORKERS, topology, authz=False),
        # OAuth protected resource metadata (RFC 9728): public, read before any token exists
        _to_workers(
            {"prefix": "/.well-known/oauth-protected-resource"}, WORKERS, topology, authz=False
        ),
    ]
    for worker in topology.workers:
        session = session_cluster(worker)
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
    session idle timeout, or later when a call held for a person's approval may stay silent
    longer (`EdgeTopology.stream_idle_s`, docs/approvals.md). Retries only when the request
    cannot have reached a worker."""
    route: dict[str, Any] = {
        "match": dict(match),
        "route": {
            "cluster": cluster,
            "timeout": "0s",
            "idle_timeout": f"{topology.stream_idle_s}s",
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
            "@type": HTTP_FILTERS + "ext_authz.v3.ExtAuthzPerRoute",
            "disabled": True,
        }
    }


def _exact(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "string_match": {"exact": value}}


def _header(key: str, value: str) -> dict[str, Any]:
    return {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
