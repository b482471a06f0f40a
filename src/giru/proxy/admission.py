"""Who gets in: the one decision on a request's credentials, taken by the worker for its own
requests and for Envoy's ext_authz alike (giru.xds.authz), and the audit of every refusal."""

from __future__ import annotations

import time
from typing import Final, NamedTuple, Protocol

from giru.errors import GiruError
from giru.mcp import jsonrpc
from giru.mcp.jsonrpc import INVALID_REQUEST, JsonRpcError
from giru.metering import new_event_id
from giru.proxy.dispatch import Dispatcher
from giru.proxy.endpoints import ANONYMOUS, Endpoint, Principal
from giru.proxy.gate import INGRESS, Ingress, unavailable
from giru.telemetry.metrics import Metrics

__all__ = ["Admission", "Authenticator", "Refusal", "asks_for_key", "tricky_path"]

_WWW_AUTH: Final = (b"www-authenticate", b'Bearer realm="giru"')
_JSON: Final = (b"content-type", b"application/json")
_URL_CREDENTIALS: Final = (b"api_key=", b"access_token=")


class Authenticator(Protocol):
    async def authenticate(self, token: str) -> Principal | None: ...

    def get(self, name: str) -> Principal | None:
        """The client named `name` as currently configured (sessions outlive config changes)."""
        ...


class Refusal(NamedTuple):
    """The answer to a request refused for its credentials, ready to send as it is (by the
    worker, or by Envoy on the worker's behalf); `headers` include the content type."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


class Admission:
    """Credentials in, a principal or a refusal out. `authenticator` is swapped on config
    reloads; the audit goes through the dispatcher's gate as it is at the time."""

    def __init__(
        self, authenticator: Authenticator, metrics: Metrics, dispatcher: Dispatcher
    ) -> None:
        self.authenticator = authenticator
        self._metrics = metrics
        self._dispatcher = dispatcher

    async def decide(
        self,
        endpoint: Endpoint,
        method: str,
        query: bytes,
        authorization: str | None,
        source: str | None,
        tls: bool,
    ) -> Principal | Refusal:
        if any(marker in query for marker in _URL_CREDENTIALS):
            refusal = JsonRpcError(INVALID_REQUEST, "credentials are not accepted in the URL")
            self._metrics.rejections.labels(str(refusal.code)).inc()
            return await self._refusal(refusal, method, source, tls)
        if endpoint.auth == "none":
            return ANONYMOUS
        scheme, _, token = (authorization or "").partition(" ")
        principal = None
        if scheme.lower() == "bearer" and token.strip():
            principal = await self.authenticator.authenticate(token.strip())
        if principal is not None:
            return principal
        self._metrics.rejections.labels("unauthenticated").inc()
        refusal = JsonRpcError(
            INVALID_REQUEST, "Unauthorized: a valid API key is required", http_status=401
        )
        return await self._refusal(refusal, method, source, tls)

    async def audited(
        self, exc: JsonRpcError, method: str, source: str | None, tls: bool
    ) -> JsonRpcError:
        """Audit a request refused at the HTTP layer (credentials, headers, body); when the
        record cannot be made durable, the answer is a 503 instead."""
        gate = self._dispatcher.gate
        if gate is None or gate.audit is None:
            return exc
        if INGRESS.get() is None:
            INGRESS.set(Ingress(new_event_id(), 0, source, tls, time.time_ns()))
        try:
            await gate.audit_rejection("unauthenticated", f"http {method}", exc)
        except GiruError as failure:
            return unavailable(failure, exc.id)
        return exc

    async def _refusal(
        self, exc: JsonRpcError, method: str, source: str | None, tls: bool
    ) -> Refusal:
        """`exc` audited and rendered; a 503 instead when its audit record cannot be kept."""
        audited = await self.audited(exc, method, source, tls)
        if audited is not exc:
            self._metrics.rejections.labels(str(audited.code)).inc()
        headers = (_WWW_AUTH, _JSON) if audited.http_status == 401 else (_JSON,)
        return Refusal(audited.http_status, headers, jsonrpc.dumps(audited.to_response()))


def asks_for_key(tail: str, method: str) -> bool:
    """Whether the worker asks for credentials at this endpoint path and method (as
    `Gateway.__call__` dispatches); anything else it answers with 404 first."""
    return tail == "" or (tail, method) in (("sse", "GET"), ("messages", "POST"))


def tricky_path(raw_path: object) -> bool:
    """Escapes, dot segments or empty segments in the path as sent (H12): MCP paths never need
    them, and the server decodes `%2F` before routing, so they are refused outright."""
    if not isinstance(raw_path, bytes):
        return False
    return b"%" in raw_path or b"//" in raw_path or b"/." in raw_path
