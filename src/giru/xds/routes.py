"""The edge's route table: the control plane's paths, sessions and retries back to their worker,
the MCP paths of every virtual server, and a 404 for anything else."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from giru.xds.keycheck import EdgeAccess, check_off, check_on
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


def route_table(
    topology: EdgeTopology, virtual_servers: list[str], access: EdgeAccess | None = None
) -> dict[str, Any]:
    """`access`: what the edge checks credentials against (`topology.edge_check`)."""
    checks = _Checks(topology, access)
    off = checks.off()
    routes: list[dict[str, Any]] = [
        _to_control({"path": "/api"}, off),
        _to_control({"prefix": "/api/"}, off),
        _to_control({"path": "/ui"}, off),
        _to_control({"prefix": "/ui/"}, off),
        # Giru's OAuth authorization server (docs/identity.md): public, stateless between steps
        _to_control({"prefix": "/oauth/"}, off),
        _to_control({"prefix": "/.well-known/oauth-authorization-server"}, off),
        _to_control({"prefix": "/.well-known/openid-configuration"}, off),
        _to_workers({"path": "/healthz"}, WORKERS, topology, off),
        _to_workers({"path": "/readyz"}, WORKERS, topology, off),
        # OAuth protected resource metadata (RFC 9728): public, read before any token exists
        _to_workers({"prefix": "/.well-known/oauth-protected-resource"}, WORKERS, topology, off),
    ]
    for worker in topology.workers:
        session = session_cluster(worker)
        prefix = {"prefix": f"{worker.name}."}
        routes.append(
            _to_workers(
                {"prefix": "/", "headers": [_exact(_WORKER_HEADER, worker.name)]},
                session,
                topology,
                {},
            )
        )
        routes.append(
            _to_workers(
                {"prefix": "/", "headers": [{"name": "mcp-session-id", "string_match": prefix}]},
                session,
                topology,
                {},
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
                {},
            )
        )
    for path in ("/mcp", "/mcp/", "/sse", "/messages"):
        routes.append(_to_workers({"path": path}, WORKERS, topology, {}))
    for name in virtual_servers:
        routes.append(_to_workers({"path": f"/mcp/{name}"}, WORKERS, topology, {}))
        routes.append(_to_workers({"prefix": f"/mcp/{name}/"}, WORKERS, topology, {}))
    not_found: dict[str, Any] = {
        "name": "not_found",
        "match": {"prefix": "/"},
        "direct_response": {"status": 404, "body": {"inline_string": _NOT_FOUND}},
        "response_headers_to_add": [_header("content-type", "application/json")],
    }
    if topology.edge_check and not topology.authz:
        not_found["typed_per_filter_config"] = off
    routes.append(not_found)
    return {
        "name": ROUTES,
        "internal_only_headers": list(_INTERNAL_HEADERS),
        "request_headers_to_remove": list(_INTERNAL_HEADERS),
        "virtual_hosts": [{"name": "giru", "domains": ["*"], "routes": routes, **checks.host()}],
    }


class _Checks:
    """The per-route configs of the edge's credential check, whichever it is: ext_authz (on
    by default, turned off where nothing is asked), the edge's own (giru.xds.keycheck), or
    none."""

    def __init__(self, topology: EdgeTopology, access: EdgeAccess | None) -> None:
        self._own = topology.edge_check and not topology.authz
        self._access = access

    def off(self) -> dict[str, Any]:
        """Routes that ask for no credentials (the control plane checks its own)."""
        return check_off() if self._own else _authz_off()

    def host(self) -> dict[str, Any]:
        """The virtual host's: what every route without its own config gets (the worker
        routes). One script for the whole table, however many routes and keys."""
        return {"typed_per_filter_config": check_on(self._access)} if self._own else {}


def _to_control(match: Mapping[str, Any], checks: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "match": dict(match),
        "route": {"cluster": CONTROL, "timeout": "60s"},
        "typed_per_filter_config": dict(checks),
    }


def _to_workers(
    match: Mapping[str, Any], cluster: str, topology: EdgeTopology, checks: Mapping[str, Any]
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
    if checks:
        route["typed_per_filter_config"] = dict(checks)
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
