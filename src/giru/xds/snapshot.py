"""The snapshot builder: what Envoy should hold, from the edge topology, the virtual servers and
the TLS certificate. Pure: the same inputs give the same snapshot (tests compare it with files).

Routing (docs/deployment/local-stack.md):
- `/api`, `/ui` go to the control plane, without ext_authz or the edge's own credential check
  (the API checks its own keys);
- a legacy session id starts with its worker's name (`w1.…`, header `Mcp-Session-Id` or the
  2024-11-05 `sessionId` query), so its requests go back to that worker; when that worker is
  down they fall through to any worker, which takes the session over from its Redis record
  (or, without one, answers the spec's 404);
- a 2026-07-28 retry whose requestState names a worker goes back to that worker;
- everything else on `/mcp`, `/mcp/<virtual server>`, `/sse`, `/messages` goes to the healthy
  worker with the fewest requests (of two picked at random); any other path is a 404 at the edge.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format, symbol_database

from giru.xds.clusters import clusters, endpoints
from giru.xds.keycheck import EdgeAccess
from giru.xds.listeners import listener
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
from giru.xds.routes import route_table
from giru.xds.topology import CERT_SECRET, ROUTES, EdgeTopology, TlsFiles

__all__ = ["build_snapshot", "resource_dicts"]


def build_snapshot(
    topology: EdgeTopology,
    virtual_servers: Iterable[str],
    tls: TlsFiles | None,
    access: EdgeAccess | None = None,
) -> Snapshot:
    """Every resource Envoy needs, checked against Envoy's own message types. `access`: what
    the edge's own credential check holds (routes only: a key change drains no listener)."""
    listeners = [listener("giru_http", topology.edge, None, topology)]
    if topology.tls is not None and tls is not None:
        listeners.append(listener("giru_https", topology.tls, CERT_SECRET, topology))
    resources: dict[str, dict[str, Any]] = {
        CLUSTER: {c["name"]: c for c in clusters(topology)},
        ENDPOINT: {e["cluster_name"]: e for e in endpoints(topology)},
        LISTENER: {item["name"]: item for item in listeners},
        ROUTE: {ROUTES: route_table(topology, sorted(set(virtual_servers)), access)},
        SECRET: {} if tls is None else {CERT_SECRET: _secret(tls)},
    }
    return Snapshot(
        {
            type_url: {name: pack(type_url, body) for name, body in named.items()}
            for type_url, named in resources.items()
        }
    )


def resource_dicts(
    topology: EdgeTopology,
    virtual_servers: Iterable[str],
    tls: TlsFiles | None,
    access: EdgeAccess | None = None,
) -> dict[str, Any]:
    """The snapshot in proto3 JSON, as Envoy's docs write it (the snapshot files hold this)."""
    snapshot = build_snapshot(topology, virtual_servers, tls, access)
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


def _secret(tls: TlsFiles) -> dict[str, Any]:
    return {
        "name": CERT_SECRET,
        "tls_certificate": {
            "certificate_chain": {"inline_string": tls.chain},
            "private_key": {"inline_string": tls.key},
        },
    }
