"""xDS resources as Envoy reads them: type URLs, packing, and the versioned snapshot."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import any_pb2, json_format, symbol_database

__all__ = [
    "CLUSTER",
    "ENDPOINT",
    "HTTP_FILTERS",
    "LISTENER",
    "ROUTE",
    "SECRET",
    "TYPE_ORDER",
    "Snapshot",
    "pack",
]

_PREFIX = "type.googleapis.com/"
LISTENER = _PREFIX + "envoy.config.listener.v3.Listener"
ROUTE = _PREFIX + "envoy.config.route.v3.RouteConfiguration"
CLUSTER = _PREFIX + "envoy.config.cluster.v3.Cluster"
ENDPOINT = _PREFIX + "envoy.config.endpoint.v3.ClusterLoadAssignment"
SECRET = _PREFIX + "envoy.extensions.transport_sockets.tls.v3.Secret"
HTTP_FILTERS = _PREFIX + "envoy.extensions.filters.http."
"""The type URL prefix of HTTP filters' typed configs."""
TYPE_ORDER = (CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET)
"""Make-before-break: clusters and their endpoints before the listeners and routes using them."""

_imported = False


def _import_types() -> None:
    """Register every message type a snapshot may name (typed_config in `@type`)."""
    global _imported
    if _imported:
        return
    import envoy.config.cluster.v3.cluster_pb2
    import envoy.config.endpoint.v3.endpoint_pb2
    import envoy.config.listener.v3.listener_pb2
    import envoy.config.route.v3.route_pb2
    import envoy.config.trace.v3.opentelemetry_pb2
    import envoy.extensions.access_loggers.file.v3.file_pb2
    import envoy.extensions.clusters.aggregate.v3.cluster_pb2
    import envoy.extensions.filters.http.buffer.v3.buffer_pb2
    import envoy.extensions.filters.http.ext_authz.v3.ext_authz_pb2
    import envoy.extensions.filters.http.health_check.v3.health_check_pb2
    import envoy.extensions.filters.http.lua.v3.lua_pb2
    import envoy.extensions.filters.http.router.v3.router_pb2
    import envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2
    import envoy.extensions.retry.host.previous_hosts.v3.previous_hosts_pb2
    import envoy.extensions.transport_sockets.tls.v3.secret_pb2
    import envoy.extensions.transport_sockets.tls.v3.tls_pb2
    import envoy.extensions.upstreams.http.v3.http_protocol_options_pb2  # noqa: F401

    _imported = True


def pack(type_url: str, resource: Mapping[str, Any]) -> any_pb2.Any:
    """`resource` (the proto3 JSON form, as in Envoy's docs) checked against its message type
    and packed; an unknown field or a wrong type raises `json_format.ParseError`."""
    _import_types()
    message_class = symbol_database.Default().GetSymbol(type_url.removeprefix(_PREFIX))
    message = json_format.ParseDict(dict(resource), message_class())
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


@dataclass(frozen=True)
class Snapshot:
    """Everything Envoy should hold, by type URL then resource name. A type's version is the
    hash of its resources, so a change elsewhere never re-sends it."""

    resources: Mapping[str, Mapping[str, any_pb2.Any]]
    versions: Mapping[str, str] = field(init=False)

    def __post_init__(self) -> None:
        versions = {}
        for type_url, named in self.resources.items():
            digest = hashlib.sha256()
            for name in sorted(named):
                digest.update(name.encode())
                digest.update(named[name].SerializeToString(deterministic=True))
            versions[type_url] = digest.hexdigest()[:16]
        object.__setattr__(self, "versions", versions)

    def of(self, type_url: str, names: frozenset[str] | None = None) -> list[any_pb2.Any]:
        """The resources of `type_url`: all of them (`names` None) or those named (unknown names
        are skipped; an empty set names none)."""
        named = self.resources.get(type_url, {})
        keys = sorted(named) if names is None else sorted(n for n in names if n in named)
        return [named[key] for key in keys]
