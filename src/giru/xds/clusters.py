"""The edge's clusters and their endpoints (EDS): the workers, each worker alone and "that worker,
else any" for its sessions, the control plane and ext_authz."""

from __future__ import annotations

from typing import Any

from giru.xds.topology import (
    AUTHZ,
    CONTROL,
    WORKERS,
    Address,
    EdgeTopology,
    session_cluster,
    worker_cluster,
)

__all__ = ["clusters", "endpoints"]

_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def clusters(topology: EdgeTopology) -> list[dict[str, Any]]:
    clusters = [
        _eds_cluster(WORKERS, http_health="/healthz"),
        _eds_cluster(CONTROL, http_health="/healthz"),
    ]
    if topology.authz:
        clusters.append(_eds_cluster(AUTHZ, http_health=None, http2=True))
    for worker in topology.workers:
        clusters.append(_eds_cluster(worker_cluster(worker), http_health="/healthz"))
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


def endpoints(topology: EdgeTopology) -> list[dict[str, Any]]:
    assignments = [
        _assignment(WORKERS, [worker.address for worker in topology.workers]),
        _assignment(CONTROL, [topology.control]),
    ]
    if topology.authz:
        assignments.append(_assignment(AUTHZ, list(topology.authz)))
    for worker in topology.workers:
        assignments.append(_assignment(worker_cluster(worker), [worker.address]))
    return assignments


def _assignment(cluster: str, addresses: list[Address]) -> dict[str, Any]:
    return {
        "cluster_name": cluster,
        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": a.socket()}} for a in addresses]}],
    }
