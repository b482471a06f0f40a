"""Envoy's ext_authz service: a bad or missing API key is refused at the edge, before any worker.

Envoy asks `envoy.service.auth.v3.Authorization/Check` for each MCP request; the answer comes
from `Gateway.admit`, the very decision the worker takes itself, so the edge and the worker
cannot disagree on who gets in (the worker still checks: the edge only spares it the work). A
refusal is the worker's own answer (status, headers, JSON-RPC body), sent by Envoy.

Fail closed: whatever goes wrong here (no gateway yet, a check without HTTP attributes, an
exception while deciding) is a denial with a 503, never an allow. Every denial is a
`denied_response` with a non-OK status, never an `error_response`: Envoy treats the latter as a
failed check, which `failure_mode_allow` would let through.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Final, Protocol

import grpc
import structlog
from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc

from giru.mcp import jsonrpc
from giru.proxy.admission import Refusal
from giru.telemetry.metrics import Metrics
from giru.xds.serving import grpc_server

__all__ = ["Admitter", "EdgeAuthz", "GatewayRef", "serve_authz"]

_log = structlog.get_logger(__name__)

_OK: Final = 0
_PERMISSION_DENIED: Final = 7
_UNAUTHENTICATED: Final = 16
"""google.rpc.Code values: any code but OK with a `denied_response` is a denial in Envoy."""

_OVERWRITE: Final = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
_FAILED: Final = Refusal(
    503,
    ((b"content-type", b"application/json"),),
    jsonrpc.dumps(
        jsonrpc.error_response(
            None,
            jsonrpc.INTERNAL_ERROR,
            "Service unavailable: the credentials could not be checked",
            {"reason": "edge_authz_error"},
        )
    ),
)
"""The answer when the check itself fails: the client may retry; nothing got in."""


class Admitter(Protocol):
    """What the service asks: `giru.proxy.gateway.Gateway` is one."""

    async def admit(
        self,
        method: str,
        path: str,
        query: bytes,
        authorization: str | None,
        *,
        source: str | None,
        tls: bool,
    ) -> Refusal | None: ...


GatewayRef = Callable[[], Admitter | None]
"""The gateway as it is now (None before it is built): read per check, since a config reload
swaps what it authenticates with."""


class EdgeAuthz:
    """The `Authorization` servicer (duck-typed: the generated base class only adds stubs that
    answer UNIMPLEMENTED, and is untyped)."""

    def __init__(self, gateway: GatewayRef, metrics: Metrics) -> None:
        self._gateway = gateway
        checks = metrics.edge_checks
        self._allowed = checks.labels("allowed")
        self._denied = checks.labels("denied")
        self._errors = checks.labels("error")

    def register(self, server: grpc.aio.Server) -> None:
        external_auth_pb2_grpc.add_AuthorizationServicer_to_server(self, server)

    async def Check(  # noqa: N802 - the gRPC method name
        self, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Any:
        """Allow (status OK) or deny with the worker's own answer; deny on any failure."""
        try:
            refusal = await self._decide(request)
        except Exception:  # noqa: BLE001 - the service boundary: anything unexpected denies
            _log.exception("edge_authz_failed")
            self._errors.inc()
            return _denied(_FAILED)
        if refusal is None:
            self._allowed.inc()
            response = external_auth_pb2.CheckResponse()
            response.status.code = _OK
            response.ok_response.SetInParent()
            return response
        self._denied.inc()
        return _denied(refusal)

    async def _decide(self, request: Any) -> Refusal | None:
        gateway = self._gateway()
        if gateway is None:
            raise RuntimeError("no gateway to check credentials with yet")
        attributes = request.attributes
        if not attributes.request.HasField("http"):
            raise ValueError("the check carries no HTTP request")
        http = attributes.request.http
        path, mark, query = http.path.partition("?")
        return await gateway.admit(
            http.method,
            path,
            (query if mark else http.query).encode(),
            _header(http, "authorization"),
            source=attributes.source.address.socket_address.address or None,
            tls=http.scheme == "https",
        )


def serve_authz(
    gateway: GatewayRef, metrics: Metrics, listen: str
) -> AbstractAsyncContextManager[int]:
    """Serve ext_authz on `listen` (HOST:PORT, port 0 picks one) while the context is open;
    yields the bound port. `metrics` should be the gateway's, so /metrics shows the checks."""
    return grpc_server(listen, EdgeAuthz(gateway, metrics).register, name="ext_authz")


def _header(http: Any, name: str) -> str | None:
    """A request header as the worker reads it (repeats joined with ", "): from `headers`, or
    from `header_map` when Envoy is configured to send raw header values."""
    value: str | None = http.headers.get(name)
    if value is not None:
        return value.strip(" \t")
    values = [
        (entry.raw_value.decode("latin-1") if entry.raw_value else entry.value).strip(" \t")
        for entry in http.header_map.headers
        if entry.key.lower() == name
    ]
    return ", ".join(values) if values else None


def _denied(refusal: Refusal) -> Any:
    """The CheckResponse that has Envoy send `refusal` to the client itself."""
    response = external_auth_pb2.CheckResponse()
    response.status.code = _UNAUTHENTICATED if refusal.status == 401 else _PERMISSION_DENIED
    denied = response.denied_response
    denied.status.code = refusal.status  # envoy.type.v3.StatusCode values are the HTTP codes
    for key, value in refusal.headers:
        option = denied.headers.add()
        option.header.key = key.decode("latin-1")
        option.header.value = value.decode("latin-1")
        option.append_action = _OVERWRITE
    denied.body = refusal.body.decode()
    return response
