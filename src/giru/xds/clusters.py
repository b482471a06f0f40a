"""The edge's clusters and their endpoints (EDS): the workers, each worker alone and "that worker,
else any" for its sessions, the control plane and ext_authz.

Addresses given as IP literals (`make stack`) are sent over EDS. Addresses given as DNS names
(Docker Compose service names, Kubernetes pod and service names, whose IPs change on every
restart) make a STRICT_DNS cluster instead: Envoy resolves the names itself and follows them."""

from __future__ import annotations

from typing import Any

from giru.xds.topology import (
    AUTHZ,
    CONTROL,
    WORKERS,
    Address,
    EdgeTopology,
    is_ip,
    session_cluster,
    worker_cluster,
)
from giru.xds.tracing import otlp_cluster

__all__ = ["clusters", "endpoints", "is_ip"]

_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def clusters(topology: EdgeTopology) -> list[dict[str, Any]]:
    workers = [worker.address for worker in topology.workers]
    clusters = [
        _cluster(WORKERS, workers, http_health="/healthz"),
        _cluster(CONTROL, [topology.control], http_health="/healthz"),
    ]
    if topology.authz:
        clusters.append(_cluster(AUTHZ, list(topology.authz), http_health=None, http2=True))
    for worker in topology.workers:
        clusters.append(_cluster(worker_cluster(worker), [worker.address], http_health="/healthz"))
        clusters.append(
            {
                "name": session_cluster(worker),
                "connect_timeout": "1s",
                "lb_policy": "CLUSTER_PROVIDED",
                "cluster_type": {
                    "name": "envoy.clusters.aggregate",
                    "typed_config": {
                        "@type": "type.googleapis.com/"
                        "envoy.extensions.clusters.aggregate.v3.ClusterConfig",
                        "clusters": [worker_cluster(worker), WORKERS],
                    },
                },
            }
        )
    if topology.tracing is not None:
        clusters.append(otlp_cluster(topology.tracing))
    return clusters


def _cluster(
    name: str, addresses: list[Address], *, http_health: str | None, http2: bool = False
) -> dict[str, Any]:
    """An EDS cluster over ADS (STRICT_DNS when an address is a name) with active health
    checks (HTTP on `http_health`, else a TCP connect) and outlier detection, so a dead worker
    stops getting requests within about a second. ext_authz (`http2`, no HTTP check) is
    stricter: Envoy does not retry a failed check, so one failed connect ejects the host and
    checks run twice a second.

    Least request (two random choices), not round robin: requests differ wildly in length, from
    a tool call of a millisecond to an SSE stream open for minutes."""
    protocol = (
        {"http2_protocol_options": {"connection_keepalive": {"interval": "30s", "timeout": "5s"}}}
        if http2
        else {"http_protocol_options": {}}
    )
    cluster: dict[str, Any] = {
        "name": name,
        **_discovery(name, addresses),
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


def endpoints(topology: EdgeTopology) -> list[dict[str, Any]]:
    """The EDS assignments: one per cluster whose addresses are all IPs (the others resolve
    their names themselves)."""
    assignments = [
        _assignment(WORKERS, [worker.address for worker in topology.workers]),
        _assignment(CONTROL, [topology.control]),
    ]
    if topology.authz:
        assignments.append(_assignment(AUTHZ, list(topology.authz)))
    for worker in topology.workers:
        assignments.append(_assignment(worker_cluster(worker), [worker.address]))
    return [a for a in assignments if _all_ips(_addresses(a))]


def _discovery(name: str, addresses: list[Address]) -> dict[str, Any]:
    if _all_ips(addresses):
        return {
            "type": "EDS",
            "eds_cluster_config": {"eds_config": {"ads": {}, "resource_api_version": "V3"}},
        }
    return {
        "type": "STRICT_DNS",
        "dns_lookup_family": "V4_PREFERRED",
        "dns_refresh_rate": "5s",
        "respect_dns_ttl": True,
        "load_assignment": _assignment(name, addresses),
    }


def _all_ips(addresses: list[Address]) -> bool:
    return all(is_ip(address.host) for address in addresses)


def _addresses(assignment: dict[str, Any]) -> list[Address]:
    endpoints = assignment["endpoints"][0]["lb_endpoints"]
    sockets = [endpoint["endpoint"]["address"]["socket_address"] for endpoint in endpoints]
    return [Address(socket["address"], socket["port_value"]) for socket in sockets]


def _assignment(cluster: str, addresses: list[Address]) -> dict[str, Any]:
    return {
        "cluster_name": cluster,
        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": a.socket()}} for a in addresses]}],
    }
