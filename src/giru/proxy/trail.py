"""One MCP request's trail: the facts its canonical log line carries, and its spans when tracing.

The gateway opens a trail where a request arrives (`TRAIL`); the dispatcher and the call gate add
what they learn (server, decision, outcome); `finish` writes the one `mcp_request` log line and
ends the request's server span. With tracing off the trail holds no span and every span helper is
a no-op. With tracing on but the request not sampled it holds no span either: only the trace id
(for the log line and the records) and the client's context, so the trace still reaches the
upstream (a fresh span id, the sampled flag off); no attributes are built, no child span is made.

Span attributes come from Giru's own facts only (names it resolved, bounded): nothing a client
sends becomes an attribute key, and no argument value is ever recorded.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Mapping, MutableMapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from random import getrandbits
from types import TracebackType
from typing import Any, Final, NamedTuple

import structlog
from opentelemetry.trace import (
    INVALID_SPAN,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
)
from opentelemetry.util.types import AttributeValue

from giru.mcp.jsonrpc import JsonRpcError, Message
from giru.mcp.versions import SUPPORTED_VERSIONS
from giru.proxy.endpoints import Principal
from giru.proxy.http import Request, Send
from giru.telemetry.traceparent import format_traceparent, remote_context
from giru.telemetry.tracing import Tracing

__all__ = [
    "TRAIL",
    "Arrival",
    "Trail",
    "answering",
    "child_span",
    "current_trail",
    "finishing",
    "open_trail",
    "span_name",
    "traced_params",
    "unsampled_params",
]

_log = structlog.get_logger(__name__)
_MAX_NAME: Final = 128
_TARGETED: Final = {"tools/call": "gen_ai.tool.name", "prompts/get": "gen_ai.prompt.name"}


@dataclass(slots=True)
class Trail:
    """What one request did, filled in as it goes; `finish` once at the end."""

    event_id: str
    endpoint: str
    method: str
    era: str
    client: str | None = None
    person: str | None = None
    tool: str | None = None
    server: str | None = None
    decision: str | None = None
    outcome: str | None = None
    status: int | None = None
    code: int | None = None
    session: str | None = None
    deferred: bool = False
    """The answer goes out later, on a stream (2024-11-05 HTTP+SSE): whoever sends it finishes."""
    span: Span | None = None
    """The request's server span, when the request is sampled (None otherwise)."""
    recording: bool = False
    """Whether the request is sampled: `span` is set and child spans are made."""
    tracing: Tracing | None = None
    """The tracing that makes the request's child spans, when recording."""
    trace_id: str | None = None
    """The request's trace id, 32 hex digits, sampled or not (None: tracing is off)."""
    parent: SpanContext | None = None
    """The client's context the trace continues (its `tracestate` goes on with it)."""
    started: float = field(default_factory=time.perf_counter)
    _done: bool = False

    def set(self, **attributes: AttributeValue | None) -> None:
        """Attributes on the request span (None values skipped); nothing when not recording."""
        if self.recording:
            assert self.span is not None
            self.span.set_attributes({k: v for k, v in attributes.items() if v is not None})

    def in_session(self, session_id: str, protocol_version: str) -> None:
        """The request belongs to a legacy session (its negotiated protocol version)."""
        self.session = session_id
        self.set(**{"mcp.protocol.version": protocol_version})

    def answered(self, response: Mapping[str, Any]) -> None:
        """The JSON-RPC answer: its error code, and an outcome when the gate set none."""
        error = response.get("error")
        code = error.get("code") if isinstance(error, dict) else None
        self.code = code if isinstance(code, int) else None
        if self.outcome is None:
            result = response.get("result")
            tool_error = isinstance(result, dict) and result.get("isError") is True
            self.outcome = "error" if error is not None else "tool_error" if tool_error else "ok"

    def finish(self, status: int | None = None) -> None:
        """The canonical log line, and the end of the request span; once."""
        if self._done:
            return
        self._done = True
        if status is not None:
            self.status = status
        ms = round((time.perf_counter() - self.started) * 1000, 3)
        if self.outcome is None:
            failed = self.code is not None or (self.status or 200) >= 400
            self.outcome = "error" if failed else "ok"
        _log.info(
            "mcp_request",
            event_id=self.event_id,
            trace_id=self.trace_id,
            endpoint=self.endpoint,
            client=self.client,
            person=self.person,
            method=self.method,
            tool=self.tool,
            server=self.server,
            era=self.era,
            session=self.session[:8] if self.session else None,
            outcome=self.outcome,
            decision=self.decision,
            status=self.status,
            code=self.code,
            ms=ms,
        )
        if self.span is not None:
            self._end_span()

    def _end_span(self) -> None:
        assert self.span is not None
        failed = self.code is not None or (self.status or 200) >= 500
        self.set(
            **{
                "giru.server": self.server,
                "giru.decision": self.decision,
                "giru.outcome": self.outcome,
                "mcp.session.id": self.session,
                "http.response.status_code": self.status,
                "rpc.response.status_code": str(self.code) if self.code is not None else None,
                "error.type": _error_type(self),
            }
        )
        if failed:
            self.span.set_status(Status(StatusCode.ERROR))
        self.span.end()


def _error_type(trail: Trail) -> str | None:
    if trail.code is not None:
        return str(trail.code)
    if trail.outcome == "tool_error":
        return "tool_error"
    if trail.status is not None and trail.status >= 500:
        return str(trail.status)
    return None


TRAIL: contextvars.ContextVar[Trail | None] = contextvars.ContextVar("giru_trail", default=None)


def current_trail() -> Trail | None:
    return TRAIL.get()


def request_attributes(trail: Trail, target: str | None, version: str | None) -> dict[str, Any]:
    """The request span's attributes known when it starts."""
    attributes: dict[str, Any] = {
        "mcp.method.name": trail.method,
        "network.transport": "tcp",
        "network.protocol.name": "http",
        "giru.endpoint": trail.endpoint,
        "giru.era": trail.era,
        "giru.event_id": trail.event_id,
    }
    key = _TARGETED.get(trail.method)
    if key is not None and target is not None:
        attributes[key] = target
    if trail.method == "tools/call":
        attributes["gen_ai.operation.name"] = "execute_tool"
    for name, value in (
        ("mcp.protocol.version", version),
        ("giru.client", trail.client),
        ("giru.person", trail.person),
    ):
        if value is not None:
            attributes[name] = value
    return attributes


def span_name(method: str, target: str | None) -> str:
    """`{mcp.method.name} {target}` (the tool or prompt name), or the method alone."""
    return f"{method} {target}" if target and method in _TARGETED else method


def bounded_name(value: object) -> str | None:
    return value[:_MAX_NAME] if isinstance(value, str) else None


_NOT_RECORDED: Final[contextlib.nullcontext[Span]] = contextlib.nullcontext(INVALID_SPAN)
"""What `child_span` gives when nothing is recorded: one shared, reusable no-op."""


def child_span(
    name: str, kind: SpanKind = SpanKind.INTERNAL, **attributes: AttributeValue | None
) -> AbstractContextManager[Span]:
    """A span under the current request's span, ended on exit (an exception marks it failed);
    a shared non-recording span, and nothing else, when tracing is off or the request is not
    sampled."""
    trail = TRAIL.get()
    if trail is None or not trail.recording:
        return _NOT_RECORDED
    return _RecordedSpan(trail, name, kind, attributes)


class _RecordedSpan(AbstractContextManager[Span]):
    """A child span of a sampled request, ended on exit (an exception marks it failed); a
    class rather than a generator: entering and leaving are one call each."""

    __slots__ = ("_span",)

    def __init__(
        self, trail: Trail, name: str, kind: SpanKind, attributes: Mapping[str, Any]
    ) -> None:
        assert trail.tracing is not None
        assert trail.span is not None
        self._span = trail.tracing.start_child(
            trail.span, name, kind, {k: v for k, v in attributes.items() if v is not None}
        )

    def __enter__(self) -> Span:
        return self._span

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is not None:
            self._span.set_attribute("error.type", kind.__name__)
            self._span.set_status(Status(StatusCode.ERROR))
        self._span.end()


def traced_params(
    span: Span, params: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
    """`params` with `_meta.traceparent` naming `span` (or the request's span when `span` does not
    record; a fresh unsampled span of the request's trace when the request is not sampled), and
    the same as an HTTP header; unchanged when tracing is off."""
    trail = TRAIL.get()
    if trail is None or trail.trace_id is None:
        return params, None
    if trail.span is None:
        return unsampled_params(trail, params)
    context = span.get_span_context() if span.is_recording() else trail.span.get_span_context()
    carried = {"traceparent": format_traceparent(context)}
    if context.trace_state:
        carried["tracestate"] = context.trace_state.to_header()
    return with_context(params, carried), carried


def unsampled_params(
    trail: Trail, params: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """`params` carrying the trace of a request not sampled on (a fresh span id of its trace, the
    sampled flag off, the client's `tracestate`), and the same as an HTTP header: no span, and
    only the work this takes (no context object, the span id's hex from its bytes)."""
    span_id = (getrandbits(64) or 1).to_bytes(8, "big").hex()
    carried = {"traceparent": f"00-{trail.trace_id}-{span_id}-00"}
    parent = trail.parent
    if parent is not None and parent.trace_state:  # most have none: no header to render
        carried["tracestate"] = parent.trace_state.to_header()
    return with_context(params, carried), carried


_NO_META: Final = object()


def with_context(params: dict[str, Any] | None, carried: dict[str, str]) -> dict[str, Any]:
    """`params` with the trace context `carried` in its `_meta` (a copy; `params` is left as
    it was). `carried` itself becomes the `_meta` of params that had none (or not an object):
    nothing downstream changes a `_meta` or a header mapping in place (they copy), so the
    `_meta` and the header share it."""
    if params is None:
        return {"_meta": carried}
    meta = params.get("_meta", _NO_META)
    if meta is _NO_META:  # most: the trace context is the whole `_meta`
        return {**params, "_meta": carried}
    return {**params, "_meta": {**meta, **carried} if isinstance(meta, dict) else carried}


def open_trail(
    tracing: Tracing | None,
    request: Request,
    arrival: Arrival,
    message: Message,
) -> Trail:
    """The trail of `message`, current from here on (`TRAIL`), with its server span when
    tracing: a child of the client's trace context when it sent a valid one (and
    `GIRU_OTEL__TRUST_CLIENT_CONTEXT` allows), started when authentication started."""
    params = message.params or {}
    method = (message.method or "")[:_MAX_NAME]
    person = getattr(arrival.principal, "person", None)
    trail = Trail(
        event_id=arrival.event_id,
        endpoint=arrival.endpoint,
        method=method,
        era=arrival.era,
        client=arrival.principal.name,
        person=person.label if person is not None else None,
        tool=bounded_name(params.get("name")) if method == "tools/call" else None,
    )
    TRAIL.set(trail)
    if tracing is None:
        return trail
    parent: SpanContext | None = None
    headers = request.headers  # most requests carry no context: nothing to look up or parse
    if tracing.trust_client_context and ("traceparent" in headers or "_meta" in params):
        header = headers.get("traceparent")
        state = headers.get("tracestate") if header is not None else None
        parent = remote_context(header, state, params.get("_meta"))
    trace_id, sampled = tracing.decide(parent)
    trail.trace_id = trace_id.to_bytes(16, "big").hex()  # 32 hex digits, faster than a format
    trail.parent = parent
    if sampled is False:  # all a request not sampled costs: the lines above
        return trail
    target = bounded_name(params.get("name")) if method in _TARGETED else None
    version = request.header("mcp-protocol-version")
    attributes = request_attributes(
        trail, target, version if version in SUPPORTED_VERSIONS else None
    )
    if message.kind == "request":
        attributes["jsonrpc.request.id"] = str(message.id)[:_MAX_NAME]
    name = span_name(method, target)
    span = tracing.start_request(name, parent, trace_id, attributes, arrival.started_ns)
    if span.is_recording():
        trail.span, trail.recording, trail.tracing = span, True, tracing
        _authentication_span(trail, arrival)
    return trail


class Arrival(NamedTuple):
    """A request as authenticated: by whom, through which endpoint and era, and when its
    authentication started and ended (ns since the epoch)."""

    event_id: str
    principal: Principal
    endpoint: str
    era: str
    started_ns: int
    authenticated_ns: int


def _authentication_span(trail: Trail, arrival: Arrival) -> None:
    assert trail.tracing is not None
    assert trail.span is not None
    span = trail.tracing.start_child(
        trail.span,
        "authenticate",
        SpanKind.INTERNAL,
        {"giru.client": arrival.principal.name},
        arrival.started_ns,
    )
    if trail.person is not None:
        span.set_attribute("giru.person", trail.person)
    span.end(end_time=arrival.authenticated_ns)


def answering(send: Send, trail: Trail) -> Send:
    """`send` answering the request's event id as the `Giru-Request-Id` header and noting the
    HTTP status of the answer in `trail`."""
    header = (b"giru-request-id", trail.event_id.encode())

    async def send_answer(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            trail.status = message["status"]
            message = {**message, "headers": [*message.get("headers", ()), header]}
        await send(message)

    return send_answer


def finishing(trail: Trail) -> AbstractContextManager[None]:
    """Finish `trail` when its request is answered (unless the answer is deferred to a stream);
    a request that raised is answered by the boundary with the error's status."""
    return _Finishing(trail)


class _Finishing(AbstractContextManager[None]):
    """`finishing`: a class rather than a generator, entering and leaving are one call each."""

    __slots__ = ("_trail",)

    def __init__(self, trail: Trail) -> None:
        self._trail = trail

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        trail = self._trail
        if isinstance(exc, JsonRpcError):
            trail.status, trail.code = exc.http_status, exc.code
        elif exc is not None:
            trail.status = 500
        if not trail.deferred:
            trail.finish()
