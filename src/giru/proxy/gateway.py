"""The data-path ASGI app: routes `/mcp`, `/mcp/<vs>`, legacy SSE, health and metrics."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, NoReturn

import structlog

from giru import __version__
from giru.access.failures import FailureLimiter
from giru.errors import GiruError
from giru.identity import endpoint_path
from giru.mcp import jsonrpc, versions
from giru.mcp.jsonrpc import INVALID_REQUEST, JsonRpcError, Message, ParseLimits
from giru.metering import new_event_id
from giru.proxy.admission import Admission, Authenticator, Refusal, asks_for_key, tricky_path
from giru.proxy.catalogs import Catalogs
from giru.proxy.checks import HttpGuard, check_post_media
from giru.proxy.connections import PresentedPrincipals
from giru.proxy.context import CallContext
from giru.proxy.dispatch import Dispatcher
from giru.proxy.endpoints import ANONYMOUS, GLOBAL, Endpoint, Principal, Revoked, ViewCache
from giru.proxy.envelopes import Envelopes
from giru.proxy.gate import INGRESS, Ingress, identified
from giru.proxy.handoff import SessionHandoff
from giru.proxy.http import BodyTooLargeError, Receive, Request, Scope, Send, send_bytes, send_json
from giru.proxy.legacy_sse import LegacySse
from giru.proxy.listen import ListenHub
from giru.proxy.modern import ModernHttp
from giru.proxy.refusals import internal_error, unavailable
from giru.proxy.sessions import Session, SessionStore
from giru.proxy.streamable import SESSION_HEADER, LegacyHttp, relay_to, send_legacy_error
from giru.proxy.trail import Arrival, answering, finishing, open_trail
from giru.proxy.upstreams import Owner, UpstreamPool
from giru.settings import Settings
from giru.telemetry.metrics import Metrics
from giru.telemetry.tracing import Tracing
from giru.upstream.base import ClientIdentity, MessageSink

__all__ = ["Gateway"]

_log = structlog.get_logger(__name__)
_SESSION_ID: Final = re.compile(r"[\x21-\x7e]{1,128}")
_HANDED_OFF: Final = frozenset({"notifications/initialized", "logging/setLevel"})
"""Messages that change what a session's handoff record holds."""


class Gateway:
    """Owns sessions, catalogs and views; every client-facing MCP request enters here."""

    def __init__(
        self,
        *,
        settings: Settings,
        pool: UpstreamPool,
        metrics: Metrics,
        authenticator: Authenticator,
        endpoints: Mapping[str, Endpoint],
        sealing_key: bytes,
    ) -> None:
        """`sealing_key`: seals the opaque values clients hand back (`envelope_key` of the node
        secret, the same on every worker)."""
        self.settings = settings
        self.pool = pool
        self.metrics = metrics
        self.endpoints = dict(endpoints)
        self.views = ViewCache()
        self._presented = PresentedPrincipals()
        self.handoff: SessionHandoff | None = None
        self.tracing: Tracing | None = None
        """Spans of every MCP request (app wiring; None: tracing is off)."""
        """Session records in Redis, so another worker can take a session over (app wiring)."""
        self._closing = False
        self.sessions = SessionStore(
            idle_timeout_s=settings.sessions.idle_timeout_s,
            max_sessions=settings.sessions.max_sessions,
            keep_events=settings.sessions.replay_events,
            prefix=f"{settings.worker_name}." if settings.worker_name else "",
        )
        self.dispatcher = Dispatcher(
            pool, metrics, page_size=settings.http.page_size, envelopes=Envelopes(sealing_key)
        )
        self.admission = Admission(
            authenticator,
            metrics,
            self.dispatcher,
            FailureLimiter(
                settings.auth.failures_per_minute, max_sources=settings.auth.tracked_sources
            ),
        )
        self.legacy = LegacyHttp(
            dispatch=self.dispatcher.dispatch,
            context=self.session_context,
            retry_ms=settings.sessions.sse_retry_ms,
            forward=self._forward_to_owned,
        )
        self.sessions.on_close = self._session_closed
        self._background: set[asyncio.Task[Any]] = set()
        self.listens = ListenHub()
        self.catalogs = Catalogs(
            pool, self.views, lambda: self.endpoints, self.sessions, self.listens
        )
        self.modern = ModernHttp(self.dispatcher, self.listens, worker=settings.worker_name)
        self.guard = HttpGuard(
            loopback=settings.host in ("127.0.0.1", "localhost", "::1"),
            allowed_hosts=frozenset(settings.http.allowed_hosts),
            allowed_origins=frozenset(settings.http.allowed_origins),
        )
        self._limits = ParseLimits(max_depth=settings.http.max_json_depth)
        self.legacy_sse = LegacySse(self.dispatcher, self.sessions, metrics, self, self._limits)
        self._mcp_requests = metrics.http_requests.labels("mcp")
        self._ops_requests = metrics.http_requests.labels("ops")
        self._routes: dict[str, Callable[[Request, Send], Awaitable[None]]] = {
            "/healthz": self._healthz,
            "/readyz": self._readyz,
            "/metrics": self._metrics,
        }

    @property
    def authenticator(self) -> Authenticator:
        return self.admission.authenticator

    @authenticator.setter
    def authenticator(self, authenticator: Authenticator) -> None:
        """Swapped on config reloads (keys, clients, grants)."""
        self.admission.authenticator = authenticator

    # -- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        route = self._routes.get(request.path)
        (self._mcp_requests if route is None else self._ops_requests).inc()
        try:
            if route is not None:
                await route(request, send)
                return
            metadata_path = endpoint_path(request.path)
            if metadata_path is not None:
                await self._resource_metadata(request, send, metadata_path)
                return
            endpoint, tail = self._endpoint(request.path)
            if endpoint is None or tricky_path(scope.get("raw_path")):
                await send_json(send, 404, {"error": "not found"})
                return
            self.guard.check(request)
            if tail == "":
                await self._mcp(request, send, endpoint)
            elif tail == "sse" and request.method == "GET":
                await self.legacy_sse.open(request, send, endpoint)
            elif tail == "messages" and request.method == "POST":
                await self.legacy_sse.message(request, send, endpoint)
            else:
                await send_json(send, 404, {"error": "not found"})
        except JsonRpcError as exc:
            self.metrics.rejections.labels(str(exc.code)).inc()
            await send_legacy_error(send, await self._audited(request, exc))
        except Exception:  # noqa: BLE001 - the request's boundary: never a bare 500
            _log.exception("request_failed", path=request.path[:128], method=request.method)
            self.metrics.rejections.labels("internal").inc()
            await _answer_failure(send, await self._audited(request, internal_error(None)))

    async def _resource_metadata(self, request: Request, send: Send, path: str) -> None:
        """RFC 9728 metadata of the endpoint at `path`, where it takes OAuth access tokens."""
        endpoint, tail = self._endpoint(path)
        resource = self.admission.resource
        if (
            request.method not in ("GET", "HEAD")
            or endpoint is None
            or tail not in ("", "sse")
            or not self.admission.accepts_oauth(endpoint)
            or resource is None
        ):
            await send_json(send, 404, {"error": "not found"})
            return
        await send_json(send, 200, resource.metadata(path))

    async def _audited(self, request: Request, exc: JsonRpcError) -> JsonRpcError:
        """`Admission.audited` for a request at hand."""
        client = request.scope.get("client")
        source = client[0] if client else None
        tls = request.scope.get("scheme") == "https"
        return await self.admission.audited(exc, request.method, source, tls)

    def _endpoint(self, path: str) -> tuple[Endpoint | None, str]:
        if path in ("/mcp", "/mcp/"):
            return self.endpoints.get(GLOBAL), ""
        if path in ("/sse", "/messages"):
            return self.endpoints.get(GLOBAL), path[1:]
        if not path.startswith("/mcp/"):
            return None, ""
        name, _, tail = path[5:].partition("/")
        return self.endpoints.get(name), tail

    async def admit(
        self,
        method: str,
        path: str,
        query: bytes,
        authorization: str | None,
        *,
        source: str | None,
        tls: bool,
    ) -> Refusal | None:
        """Envoy's question (ext_authz) before a request reaches any worker: None when the
        worker would not refuse it for its credentials (a valid key, an `auth: none` endpoint,
        or a path the worker answers with 404 before asking for a key), else the refusal the
        worker would send, audited as the worker audits it. `path` is as sent (not decoded).

        The check is a request arriving: it gets an event id of its own (its audit record's).
        """
        INGRESS.set(Ingress(new_event_id(), 0, source, tls, time.time_ns()))
        endpoint, tail = self._endpoint(path)
        if endpoint is None or tricky_path(path.encode()) or not asks_for_key(tail, method):
            return None
        if method == "OPTIONS":  # a CORS preflight carries no credentials: the worker answers it
            return None
        admitted = await self.admission.decide(
            endpoint, method, query, authorization, source, tls, tail
        )
        return admitted if isinstance(admitted, Refusal) else None

    async def authenticate(
        self, request: Request, endpoint: Endpoint, send: Send, tail: str = ""
    ) -> Principal | None:
        """The caller, or None once the refusal has been sent (the edge decides the same way)."""
        client = request.scope.get("client")
        admitted = await self.admission.decide(
            endpoint,
            request.method,
            request.query,
            request.header("authorization"),
            client[0] if client else None,
            request.scope.get("scheme") == "https",
            tail,
        )
        if not isinstance(admitted, Refusal):
            if self.catalogs.awaiting_person:  # token-exchange servers wait for a person
                await self.catalogs.prime(admitted)
            return admitted
        status, headers, body = admitted
        await send_bytes(send, status, body, content_type=None, headers=list(headers))
        return None

    async def _mcp(self, request: Request, send: Send, endpoint: Endpoint) -> None:
        started_ns = time.time_ns()
        principal = await self.authenticate(request, endpoint, send)
        if principal is None:
            return
        if request.method == "POST":
            await self._post(request, send, endpoint, principal, started_ns)
        elif _modern_header(request) and request.method in ("GET", "DELETE"):
            # 2026-07-28: no GET stream and no session to delete (H5, S14)
            await send_bytes(send, 405, b"", content_type=None, headers=[(b"allow", b"POST")])
        elif request.method == "GET":
            session = await self._session(request, endpoint, principal)
            if "text/event-stream" not in (request.header("accept") or ""):
                raise JsonRpcError(INVALID_REQUEST, "GET needs Accept: text/event-stream")
            if await self.legacy_sse.refuse_storm(principal, send):
                return
            await self.legacy.get(request, send, session)
        elif request.method == "DELETE":
            session = await self._session(request, endpoint, principal)
            self.sessions.delete(session.id)
            if self.handoff is not None:  # before the answer: no worker takes it over after
                await self.handoff.forget(session.id)
            self.metrics.sessions.labels("legacy").set(len(self.sessions))
            await send_bytes(send, 200, b"", content_type=None)
        else:
            await send_bytes(
                send, 405, b"", content_type=None, headers=[(b"allow", b"GET, POST, DELETE")]
            )

    async def _post(
        self,
        request: Request,
        send: Send,
        endpoint: Endpoint,
        principal: Principal,
        started_ns: int,
    ) -> None:
        check_post_media(request)
        try:
            body = await request.body(self.settings.http.max_body_bytes)
        except BodyTooLargeError:
            raise JsonRpcError(INVALID_REQUEST, "Payload Too Large", http_status=413) from None
        message = jsonrpc.parse_message(body, self._limits)
        event_id = identified(request, len(body))
        era = versions.request_era("POST", request.header("mcp-protocol-version"), message)
        arrival = Arrival(
            event_id, principal, endpoint.name or "/mcp", era, started_ns, time.time_ns()
        )
        trail = open_trail(self.tracing, request, arrival, message)
        send = answering(send, trail)
        with finishing(trail):
            if era == "modern":
                view = self.views.get(endpoint, principal, self.catalogs.listed)
                await self.modern.post(
                    request, send, view, principal, message, endpoint.name or None
                )
            elif message.method == "initialize":
                await self._initialize(send, endpoint, principal, message)
            else:
                session = await self._session(request, endpoint, principal)
                trail.in_session(session.id, session.protocol_version)
                await self.legacy.post(request, send, session, message, principal)
                if self.handoff is not None and message.method in _HANDED_OFF:
                    await self.handoff.save(session)

    async def _initialize(
        self, send: Send, endpoint: Endpoint, principal: Principal, message: Message
    ) -> None:
        if message.kind != "request":
            raise JsonRpcError(INVALID_REQUEST, "initialize must be a request")
        params = message.params or {}
        requested = params.get("protocolVersion")
        if not isinstance(requested, str):
            raise JsonRpcError(jsonrpc.INVALID_PARAMS, "protocolVersion is required", id=message.id)
        version = versions.negotiate(requested)
        session = self.sessions.create(
            owner=principal.name,
            principal=principal,
            endpoint=endpoint.name,
            transport="streamable-http",
            protocol_version=version,
            client_capabilities=params.get("capabilities") or {},
            client_info=params.get("clientInfo") or {},
        )
        if session is None:
            raise JsonRpcError(
                jsonrpc.INTERNAL_ERROR, "too many sessions", id=message.id, http_status=503
            )
        self.metrics.sessions.labels("legacy").set(len(self.sessions))
        if self.handoff is not None:
            await self.handoff.save(session)
        view = self.views.get(endpoint, principal, self.catalogs.listed)
        result = self.dispatcher.initialize_result(view, version)
        await send_json(
            send,
            200,
            jsonrpc.result_response(message.id, result),
            headers=[(SESSION_HEADER.encode(), session.id.encode())],
        )

    async def _session(self, request: Request, endpoint: Endpoint, principal: Principal) -> Session:
        session_id = request.header(SESSION_HEADER)
        if session_id is None:
            raise JsonRpcError(INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required")
        if not _SESSION_ID.fullmatch(session_id):  # visible ASCII 0x21-0x7E only (S4)
            raise JsonRpcError(INVALID_REQUEST, "Bad Request: malformed Mcp-Session-Id")
        session = self.sessions.get(session_id)
        if session is None and self.handoff is not None:
            session = await self.handoff.take_over(
                self.sessions, session_id, endpoint.name, principal
            )
            if session is not None:
                self.metrics.sessions.labels("legacy").set(len(self.sessions))
                self.metrics.sessions_taken_over.inc()
                _log.info("session_taken_over", client=principal.name, endpoint=endpoint.path)
        elif session is not None and self.handoff is not None:
            self.handoff.keep(session)
        refused = JsonRpcError(INVALID_REQUEST, "Session not found", http_status=404)
        if session is None:
            raise refused
        if session.owner != principal.name or session.endpoint != endpoint.name:
            await self.audit_foreign_session(principal, endpoint, "Mcp-Session-Id", refused)
        return session

    async def audit_foreign_session(
        self, principal: Principal, endpoint: Endpoint, kind: str, refused: JsonRpcError
    ) -> NoReturn:
        """A session id another client (or endpoint) was handed: the same 404 as an unknown
        one, audited (docs/security/opaque-values.md)."""
        _log.warning("session_owner_mismatch", client=principal.name, endpoint=endpoint.name)
        gate = self.dispatcher.gate
        if gate is not None:
            try:
                await gate.audit_rejection(
                    principal.name,
                    "session",
                    refused,
                    target=endpoint.path,
                    detail=f"{kind} refused: issued to another client or endpoint",
                )
            except GiruError as failure:
                raise unavailable(failure, None) from failure
        raise refused

    def session_context(
        self, session: Session, relay: MessageSink | None, arrived: Principal | None = None
    ) -> CallContext:
        """`arrived`: the principal this request authenticated as (its presented token is
        kept for token exchanges; the grants are the session owner's as they are now)."""
        endpoint = self.endpoints[session.endpoint]
        principal = self._presented(self._current(session), arrived)
        view = self.views.get(endpoint, principal, self.catalogs.listed)
        return CallContext(
            view=view,
            client=session.owner,
            protocol_version=session.protocol_version,
            relay=relay,
            owner=_owner_of(session),
            log_level=session.log_level,
            on_set_level=session.set_log_level,
            principal=principal,
            virtual_server=session.endpoint or None,
        )

    def _current(self, session: Session) -> Principal:
        """The session's client with its grants as they are now, not as at initialize."""
        opened_as: Principal = session.principal
        if opened_as is ANONYMOUS:
            return opened_as
        current: Principal | None = self.authenticator.get(session.owner)
        return current if current is not None else Revoked(session.owner)

    async def _forward_to_owned(self, session: Session, message: Message) -> None:
        await self.pool.notify_owner(session.id, message.method or "", message.params)

    def _session_closed(self, session: Session) -> None:
        """An ended session's own upstream sessions (isolated servers) close in the background;
        its handoff record goes too, unless this worker is only shutting down (then another
        worker may take the session over)."""
        closing = [self.pool.close_owner(session.id)]
        if self.handoff is not None and not self._closing:
            closing.append(self.handoff.forget(session.id))
        for work in closing:
            task = asyncio.get_running_loop().create_task(work)
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    # -- operability ---------------------------------------------------------------------------

    async def _healthz(self, request: Request, send: Send) -> None:
        await send_json(send, 200, {"status": "ok"})

    async def _readyz(self, request: Request, send: Send) -> None:
        servers = {
            name: ("error: " + c.error) if c.error else "ok"
            for name, c in self.catalogs.by_server.items()
        }
        ready = self.catalogs.ready
        body: dict[str, Any] = {"ready": ready, "servers": servers}
        gate = self.dispatcher.gate
        if gate is not None and gate.policy is not None:
            status = gate.policy.policy_status()
            body["policy"] = {k: status[k] for k in ("active", "revision", "lastError")}
            ready = ready and gate.policy.ready  # no policy active: nothing can be decided
            body["ready"] = ready
        if self.catalogs.warnings:
            body["warnings"] = self.catalogs.warnings
        await send_json(send, 200 if ready else 503, body)

    async def _metrics(self, request: Request, send: Send) -> None:
        await send_bytes(
            send, 200, self.metrics.render(), content_type=b"text/plain; version=0.0.4"
        )

    async def aclose(self) -> None:
        self._closing = True
        self.modern.close()
        await self.catalogs.aclose()
        self.listens.close_all()
        for session in self.sessions.all():
            self.sessions.delete(session.id)
        await asyncio.gather(*list(self._background), return_exceptions=True)


async def _answer_failure(send: Send, exc: JsonRpcError) -> None:
    """A JSON-RPC error for a request that failed inside Giru, unless its answer had already
    begun (the server refuses a second start; the client then sees the stream end)."""
    try:
        await send_legacy_error(send, exc)
    except RuntimeError:
        _log.warning("request_failed_after_answer_began")


def _modern_header(request: Request) -> bool:
    return versions.era_of(request.header("mcp-protocol-version") or "") == "modern"


def _owner_of(session: Session) -> Owner:
    """The session as the owner of its own upstream sessions; built once it is initialized
    (its capabilities are known then), not per request."""
    if isinstance(session.upstream_owner, Owner):
        return session.upstream_owner
    identity = ClientIdentity(
        capabilities=session.client_capabilities,
        client_info=session.client_info or {"name": "giru", "version": __version__},
        protocol_version=session.protocol_version,
    )
    owner = Owner(session.id, identity, lambda m: _to_listener(session, m))
    if session.initialized:
        session.upstream_owner = owner
    return owner


async def _to_listener(session: Session, message: dict[str, Any]) -> dict[str, Any] | None:
    """An isolated upstream's unsolicited message for this client: on its GET stream."""
    stream = session.listener
    if stream is not None and not stream.closed:
        answer: dict[str, Any] | None = await relay_to(session, stream, message)
        return answer
    if "id" in message:
        return jsonrpc.error_response(
            message["id"], jsonrpc.METHOD_NOT_FOUND, "the client has no open stream"
        )
    return None
