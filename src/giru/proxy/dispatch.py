"""MCP method dispatch, era-independent: list from the compiled view, route calls upstream."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, Final
from urllib.parse import urlsplit

import structlog
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from giru import __version__
from giru.catalog.arguments import ArgumentsValidator
from giru.catalog.search import ToolSearch
from giru.catalog.views import Route, View
from giru.errors import (
    ConnectionRequiredError,
    GiruError,
    UpstreamCredentialsError,
    UpstreamError,
    UpstreamUnavailableError,
)
from giru.mcp import jsonrpc
from giru.mcp.headers import param_values
from giru.mcp.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, JsonRpcError, Message
from giru.mcp.versions import LOG_LEVELS, Era, era_of
from giru.policy import PolicyUnavailableError
from giru.proxy.breaker import CircuitBreakers
from giru.proxy.connections import caller_of, connection_answer, without_connect_state
from giru.proxy.consent import ClientChannel
from giru.proxy.context import CallContext, binding_of
from giru.proxy.cursors import Cursors
from giru.proxy.discovery import SEARCH_TOOL, search_listing, search_result
from giru.proxy.envelopes import (
    EnvelopeError,
    Envelopes,
    RefusedValueError,
)
from giru.proxy.gate import SPOOL_REASONS, CallGate, Subject, policy_call
from giru.proxy.input_relay import ask_legacy_client, needs_input
from giru.proxy.legacy_meta import with_log_level, without_envelope
from giru.proxy.refusals import POLICY_UNAVAILABLE, internal_error, unavailable
from giru.proxy.resources import Resources
from giru.proxy.trail import (
    child_span,
    current_trail,
    span_name,
    traced_params,
    unsampled_params,
)
from giru.proxy.upstreams import UpstreamPool
from giru.telemetry.metrics import Metrics, error_type
from giru.trust.refusals import held_refusal
from giru.upstream.base import MessageSink, UpstreamSession

__all__ = ["SERVER_INFO", "STATE_TTL_S", "Dispatcher"]

_log = structlog.get_logger(__name__)
SERVER_INFO: Final = {"name": "giru", "title": "Giru MCP gateway", "version": __version__}
_MAX_INPUT_ROUNDS: Final = 8
STATE_TTL_S: Final = 600.0
"""How long a client may take to answer an upstream's `input_required` (a person may be
filling in an elicitation form)."""
_REQUEST_STATE: Final = "requestState"
# Methods 2026-07-28 removed: served through a legacy-era upstream session whatever the client's
# era. Everything else goes to the upstream in the client's own era when the upstream speaks it
# (the pool falls back to the other era, and translation, only when it does not).
_LEGACY_ONLY: Final = frozenset(
    {"resources/subscribe", "resources/unsubscribe", "logging/setLevel", "ping"}
)
_LISTS: Final = {
    "tools/list": ("tools", "tools"),
    "prompts/list": ("prompts", "prompts"),
    "resources/list": ("resources", "resources"),
    "resources/templates/list": ("templates", "resourceTemplates"),
}


Handler = Callable[[CallContext, Message], Awaitable[dict[str, Any]]]


class Dispatcher:
    def __init__(
        self, pool: UpstreamPool, metrics: Metrics, *, page_size: int, envelopes: Envelopes
    ) -> None:
        self._pool = pool
        self._envelopes = envelopes
        self._cursors = Cursors(envelopes)
        self._metrics = metrics
        self._page_size = page_size
        self._breakers = CircuitBreakers()
        metrics.upstreams.watch_circuits(self._breakers.is_open)
        self.unhealthy: dict[str, str] = {}
        """Servers the health checker found down, with why: their calls fail fast."""
        self.gate: CallGate | None = None
        """Rate limits, quotas and usage records for tools/call (None: none of them)."""
        resources = Resources(pool, self)
        self._handlers: dict[str, Handler] = {
            "ping": self._ping,
            "tools/call": self._tools_call,
            "prompts/get": self._prompts_get,
            "resources/read": resources.by_uri,
            "resources/subscribe": resources.by_uri,
            "resources/unsubscribe": resources.by_uri,
            "completion/complete": self._complete,
            "logging/setLevel": self._set_level,
        }

    @property
    def breakers(self) -> CircuitBreakers:
        """This worker's circuit breakers, one per upstream server."""
        return self._breakers

    def initialize_result(self, view: View, protocol_version: str) -> dict[str, Any]:
        return {
            "protocolVersion": protocol_version,
            "capabilities": dict(view.capabilities),
            "serverInfo": SERVER_INFO,
        }

    async def dispatch(self, ctx: CallContext, message: Message) -> dict[str, Any]:
        """Answer one request; the response carries the client's id exactly."""
        method = message.method or ""
        started = time.perf_counter()
        self._metrics.inflight.inc()
        try:
            opened = self._opened(ctx, message)
            response = self._sealed(ctx, opened, await self._answer(ctx, opened, method))
        except JsonRpcError as exc:
            detail = exc.detail if isinstance(exc, RefusedValueError) else None
            response = await self.refusal(ctx, message, exc, detail)
        except Exception:  # noqa: BLE001 - the call's boundary: a JSON-RPC answer, audited
            _log.exception("call_failed", method=method[:64], client=ctx.client)
            response = await self.refusal(ctx, message, internal_error(message.id))
        finally:
            self._metrics.inflight.dec()
        trail = current_trail()
        if trail is not None:
            trail.answered(response)
        outcome = "error" if "error" in response else "ok"
        # Metric labels never carry what a client made up: unknown methods count as "other".
        label = method if method in self._handlers or method in _LISTS else "other"
        self._metrics.observe_server(label, error_type(response), time.perf_counter() - started)
        if method != "tools/call":
            self._metrics.count_request(label, "", "", outcome)
        return response

    async def refusal(
        self, ctx: CallContext, message: Message, exc: JsonRpcError, detail: str | None = None
    ) -> dict[str, Any]:
        """The answer to a request refused before the gate (unknown tool, invalid arguments, a
        requestState not issued to this caller, …), audited with `detail` (never shown to the
        client); when the record cannot be made durable the answer is that failure instead."""
        response = jsonrpc.error_response(message.id, exc.code, exc.message, exc.data)
        gate = self.gate
        if gate is None or gate.audit is None or (exc.data or {}).get("reason") in SPOOL_REASONS:
            return response
        params = message.params or {}
        target = params.get("name", params.get("uri"))
        actor = ctx.principal.name if ctx.principal is not None else ctx.client
        try:
            await gate.audit_rejection(
                actor,
                message.method or "",
                exc,
                target=target[:256] if isinstance(target, str) else None,
                detail=detail,
            )
        except GiruError as failure:
            return unavailable(failure, message.id).to_response()
        return response

    def _opened(self, ctx: CallContext, message: Message) -> Message:
        """`message` with the upstream's own requestState in place of Giru's envelope; a state
        Giru did not seal for this caller, endpoint, method and target is refused."""
        params = message.params
        if params is None or _REQUEST_STATE not in params:
            return message
        binding = binding_of(ctx, message)
        try:
            state = self._envelopes.open(_REQUEST_STATE, params[_REQUEST_STATE], binding)
        except EnvelopeError as exc:
            _log.warning(
                "opaque_value_refused", kind=_REQUEST_STATE, reason=exc.reason, client=ctx.client
            )
            raise RefusedValueError(_REQUEST_STATE, exc.reason) from exc
        return replace(message, params={**params, _REQUEST_STATE: state})

    def _sealed(
        self, ctx: CallContext, message: Message, response: dict[str, Any]
    ) -> dict[str, Any]:
        """`response` with an upstream's requestState sealed for this caller (it never reaches
        a client as the upstream issued it)."""
        result = response.get("result")
        if not isinstance(result, dict) or _REQUEST_STATE not in result:
            return response
        sealed = self._envelopes.seal(
            _REQUEST_STATE, result[_REQUEST_STATE], binding_of(ctx, message), STATE_TTL_S
        )
        return {**response, "result": {**result, _REQUEST_STATE: sealed}}

    async def _answer(self, ctx: CallContext, message: Message, method: str) -> dict[str, Any]:
        listing = _LISTS.get(method)
        if listing is not None:
            attr, key = listing
            if not self._offers(ctx.view, key):
                raise JsonRpcError(METHOD_NOT_FOUND, f"Method not found: {method}")
            items: tuple[dict[str, Any], ...] = getattr(ctx.view, attr)
            if method == "tools/list" and self.gate is not None and self.gate.policy is not None:
                items = await self._visible_tools(ctx, items)
            if method == "tools/list" and ctx.view.search is not None:
                items = search_listing(ctx.view.search, items)
            listed = self._cursors.page(
                items, key, message.params, self._page_size, binding_of(ctx, message)
            )
            return jsonrpc.result_response(message.id, listed)
        handler = self._handlers.get(method)
        if handler is None:
            raise JsonRpcError(METHOD_NOT_FOUND, f"Method not found: {method[:64]}")
        return await handler(ctx, message)

    async def _visible_tools(
        self, ctx: CallContext, items: tuple[dict[str, Any], ...]
    ) -> tuple[dict[str, Any], ...]:
        """The tools policy lets this caller call at all (tools/list hides the others)."""
        policy = self.gate.policy if self.gate is not None else None
        if policy is None:
            return items
        principal = ctx.principal
        client = principal.name if principal is not None else "anonymous"
        routes = ctx.view.tool_route_list
        subscriptions = ctx.view.tool_subscriptions if principal is not None else {}
        listing = Subject("tools/list", "", "", {}, ctx.virtual_server, ctx.protocol_version)
        try:
            visible = await policy.visible(
                policy_call(listing, client, None, principal), subscriptions, routes
            )
        except PolicyUnavailableError as exc:
            raise JsonRpcError(
                POLICY_UNAVAILABLE,
                "Policy decision unavailable; the tool list cannot be shown",
                data={"reason": "policy_unavailable"},
            ) from exc
        return tuple(item for item in items if item.get("name") in visible)

    @staticmethod
    def _offers(view: View, key: str) -> bool:
        capability = "resources" if key == "resourceTemplates" else key
        return capability in view.capabilities

    async def _ping(self, ctx: CallContext, message: Message) -> dict[str, Any]:
        return jsonrpc.result_response(message.id, {})

    async def _tools_call(self, ctx: CallContext, message: Message) -> dict[str, Any]:
        name = _name_param(message)
        if name == SEARCH_TOOL and ctx.view.search is not None:
            return await self._search_tools(ctx, message, ctx.view.search)
        route, validator = _resolve_tool(ctx.view, name, message.params)
        if route is None:
            held = ctx.view.tool_holds.get(name)
            if held is not None:  # a tool this caller may call, held for review
                (server, tool), hold = held
                self._metrics.count_request("tools/call", server, tool, "tool_held")
                raise held_refusal(name, server, tool, hold, message.id)
            self._metrics.count_request("tools/call", "", "", "unknown_tool")
            raise JsonRpcError(INVALID_PARAMS, f"Unknown tool: {name[:128]}")
        server, tool = route
        problem = validator.problem((message.params or {}).get("arguments")) if validator else None
        if problem is not None:  # M8: refused before the upstream sees it
            self._metrics.count_request("tools/call", server, tool, "invalid_arguments")
            raise JsonRpcError(INVALID_PARAMS, f"Invalid arguments for tool {name}: {problem}")
        params = {k: v for k, v in (message.params or {}).items() if k != "_giru"}
        params["name"] = tool
        declared = ctx.view.tool_params.get(name)
        headers = param_values(params.get("arguments"), declared) if declared else None

        async def forward() -> dict[str, Any]:
            return await self.forward(ctx, message, server, params, headers)

        arguments = params.get("arguments")
        response = await self.governed(
            ctx, message, server, tool, arguments if isinstance(arguments, dict) else {}, forward
        )
        outcome = "error" if "error" in response else _tool_outcome(response)
        self._metrics.count_request("tools/call", server, tool, outcome)
        return response

    async def _search_tools(
        self, ctx: CallContext, message: Message, search: ToolSearch
    ) -> dict[str, Any]:
        """Giru's own tool: answered here, it reaches no upstream (and is not metered)."""

        async def visible() -> frozenset[str]:
            items = await self._visible_tools(ctx, ctx.view.tools)
            return frozenset(str(item.get("name")) for item in items)

        try:
            arguments = (message.params or {}).get("arguments")
            result = await search_result(ctx.view, search, arguments, visible)
        except JsonRpcError:
            self._metrics.count_request("tools/call", "giru", SEARCH_TOOL, "invalid_arguments")
            raise
        self._metrics.count_request("tools/call", "giru", SEARCH_TOOL, "ok")
        return jsonrpc.result_response(message.id, result)

    async def _prompts_get(self, ctx: CallContext, message: Message) -> dict[str, Any]:
        if "prompts" not in ctx.view.capabilities:  # M2: an undeclared capability
            raise JsonRpcError(
                METHOD_NOT_FOUND,
                "Method not found: prompts/get",
                data={"reason": "the server does not offer prompts"},
            )
        name = _name_param(message)
        route = ctx.view.prompt_routes.get(name)
        if route is None:
            raise JsonRpcError(INVALID_PARAMS, f"Unknown prompt: {name[:128]}")
        server, prompt = route
        params = {**(message.params or {}), "name": prompt}
        arguments = params.get("arguments")

        async def forward() -> dict[str, Any]:
            return await self.forward(ctx, message, server, params)

        return await self.governed(
            ctx, message, server, prompt, arguments if isinstance(arguments, dict) else {}, forward
        )

    async def governed(
        self,
        ctx: CallContext,
        message: Message,
        server: str,
        target: str,
        arguments: dict[str, Any],
        forward: Callable[[], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """`forward` through the gate (policy, limits, usage, audit) when there is one."""
        if self.gate is None:
            return await forward()
        subject = Subject(
            message.method or "",
            server,
            target,
            arguments,
            ctx.virtual_server,
            ctx.protocol_version,
        )
        channel = ClientChannel(ctx.relay, _capabilities_of(ctx))
        return await self.gate.run(ctx.principal, message, subject, forward, channel)

    async def _complete(self, ctx: CallContext, message: Message) -> dict[str, Any]:
        params = message.params or {}
        ref = params.get("ref")
        if not isinstance(ref, dict):
            raise JsonRpcError(INVALID_PARAMS, "params.ref must be an object")
        if ref.get("type") == "ref/prompt":
            route = ctx.view.prompt_routes.get(str(ref.get("name")))
            if route is None:
                raise JsonRpcError(INVALID_PARAMS, "Unknown prompt")
            params = {**params, "ref": {**ref, "name": route[1]}}
            return await self.forward(ctx, message, route[0], params)
        server = ctx.view.route_resource(str(ref.get("uri", "")))
        if server is None:
            raise JsonRpcError(INVALID_PARAMS, "Unknown resource template")
        return await self.forward(ctx, message, server, params)

    async def _set_level(self, ctx: CallContext, message: Message) -> dict[str, Any]:
        level = (message.params or {}).get("level")
        if level not in LOG_LEVELS:
            raise JsonRpcError(INVALID_PARAMS, "params.level must be a logging level")
        if ctx.on_set_level is not None:
            ctx.on_set_level(str(level))
        for server in ctx.view.servers:
            try:
                session = await self._pool.session(server, "legacy")
                if "logging" in (session.initialize_result.get("capabilities") or {}):
                    await session.request("logging/setLevel", message.params)
            except UpstreamError as exc:
                _log.info("set_level_skipped", server=server, reason=exc.code)
        return jsonrpc.result_response(message.id, {})

    async def upstream_session(self, ctx: CallContext, server: str, method: str) -> UpstreamSession:
        if self._pool.per_person(server):
            caller = caller_of(ctx.principal)
            if caller is None:  # None would mean the token the tools are listed with
                raise self._pool.without_person(server)
            era: Era = "legacy" if method in _LEGACY_ONLY else ctx.era
            return await self._pool.connected_session(server, caller, era)
        if ctx.owner is not None and self._pool.isolated(server):
            return await self._pool.owned_session(server, ctx.owner)
        era = "legacy" if method in _LEGACY_ONLY else ctx.era
        return await self._pool.session(server, era, ctx.declared)

    async def forward(
        self,
        ctx: CallContext,
        message: Message,
        server: str,
        params: dict[str, Any] | None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Send the request to `server` and answer with its response under the client's id,
        in a client span carrying the trace context on (`_meta`, and a header over HTTP)."""
        trail = current_trail()
        if trail is None:
            return await self._forward(ctx, message, server, params, headers)
        trail.server = trail.server or server
        if trail.span is None:  # tracing off, or the request not sampled: no span to make
            if trail.trace_id is not None:  # not sampled: its trace still goes on (flags 00)
                params, context = unsampled_params(trail, params)
                headers = context if headers is None else {**headers, **context}
            return await self._forward(ctx, message, server, params, headers)
        method, target = message.method or "", _target_name(params)
        attributes = self._upstream_attributes(server)
        with child_span(span_name(method, target), SpanKind.CLIENT, **attributes) as span:
            params, carried = traced_params(span, params)
            if carried is not None:  # the header for an HTTP upstream (the others ignore it)
                headers = carried if headers is None else {**headers, **carried}
            response = await self._forward(ctx, message, server, params, headers)
            if "error" in response and span.is_recording():
                span.set_status(Status(StatusCode.ERROR))
                span.set_attribute("error.type", str(response["error"].get("code")))
        return response

    def _upstream_attributes(self, server: str) -> dict[str, AttributeValue | None]:
        spec = self._pool.specs.get(server)
        url = urlsplit(spec.url) if spec is not None and spec.url else None
        return {
            "giru.server": server,
            "server.address": url.hostname if url is not None else None,
            "server.port": url.port if url is not None else None,
            "network.transport": "tcp" if url is not None else "pipe",
        }

    async def _forward(
        self,
        ctx: CallContext,
        message: Message,
        server: str,
        params: dict[str, Any] | None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        sink = _Relay(ctx.relay)
        method = message.method or ""
        started = time.perf_counter()
        params = without_connect_state(params)
        try:
            self._breakers.check(server)
            self.check_health(server)
            for attempt in (1, 2):  # a credential the upstream refused: one retry, renewed
                session = await self.upstream_session(ctx, server, message.method or "")
                if era_of(session.protocol_version) != "modern":
                    params = without_envelope(params)
                elif ctx.era == "legacy" and ctx.log_level is not None:
                    params = with_log_level(params, ctx.log_level)
                try:
                    response = await session.request(
                        message.method or "", params, on_message=sink, headers=headers
                    )
                    break
                except UpstreamError as exc:
                    caller = caller_of(ctx.principal)
                    if attempt == 2 or not await self._pool.refused(server, caller, session, exc):
                        raise
            for _ in range(_MAX_INPUT_ROUNDS):
                if ctx.era == "modern" or ctx.relay is None or not needs_input(response):
                    break
                retry = await ask_legacy_client(ctx.relay, response["result"], params)
                response = await session.request(
                    message.method or "", retry, on_message=sink, headers=headers
                )
        except ConnectionRequiredError as exc:
            capabilities = ctx.owner.identity.capabilities if ctx.owner is not None else None
            answer = connection_answer(
                message, exc, modern=ctx.era == "modern", capabilities=capabilities
            )
            return {**answer, "id": message.id}
        except UpstreamError as exc:
            if "circuit" not in exc.data and "health" not in exc.data:  # it was asked
                self._metrics.observe_client(
                    method, server, exc.code, time.perf_counter() - started
                )
            return self.failed(message, server, exc)
        self._breakers.succeeded(server)
        elapsed = time.perf_counter() - started
        self._metrics.observe_client(method, server, error_type(response), elapsed)
        return {**response, "id": message.id}

    def check_health(self, server: str) -> None:
        reason = self.unhealthy.get(server)
        if reason is not None:
            message = (
                f"server is unhealthy ({reason}); its tools stay listed and work again "
                "once it recovers"
            )
            raise UpstreamUnavailableError(server, message, data={"health": "unhealthy"})

    def failed(self, message: Message, server: str, exc: UpstreamError) -> dict[str, Any]:
        """The client's answer when an upstream fails; repeated failures open its breaker."""
        data: dict[str, Any] = {"reason": exc.code, "server": server}
        if exc.data.get("circuit") == "open":
            data["circuit"] = "open"
        elif exc.data.get("health") == "unhealthy":
            data["health"] = "unhealthy"
        elif isinstance(exc, UpstreamCredentialsError):
            pass  # not the upstream's fault: its breaker stays as it is (logged by the pool)
        else:
            _log.warning("upstream_call_failed", server=server, reason=exc.code, error=exc.message)
            if self._breakers.failed(server, exc.code):  # giru_upstream_up reads the breaker: now 0
                _log.error("upstream_circuit_opened", server=server)
        return jsonrpc.error_response(
            message.id,
            jsonrpc.INTERNAL_ERROR,
            f"Upstream server {server!r} failed: {exc.message}",
            data,
        )


def _resolve_tool(
    view: View, name: str, params: dict[str, Any] | None
) -> tuple[Route | None, ArgumentsValidator | None]:
    """The route for `name`, honouring the seed's `_giru.prefer_mcp` hint: on an unprefixed
    virtual server where several servers offer `name`, the hint picks the server (a server that
    does not offer it gets the same unknown-tool answer)."""
    route = view.tool_routes.get(name)
    hint = (params or {}).get("_giru")
    prefer = hint.get("prefer_mcp") if isinstance(hint, dict) else None
    if not isinstance(prefer, str) or route is None or route[0] == prefer:
        return route, view.tool_validators.get(name)
    alternate = view.tool_alternates.get((prefer, name))
    return alternate if alternate is not None else (None, None)


def _capabilities_of(ctx: CallContext) -> Mapping[str, Any] | None:
    """What the calling client declared it can do: per request (2026-07-28), else its session's."""
    if ctx.era == "modern":
        return ctx.declared
    return ctx.owner.identity.capabilities if ctx.owner is not None else None


class _Relay:
    """Messages from the upstream during one call, on their way to the calling client."""

    def __init__(self, relay: MessageSink | None) -> None:
        self._relay = relay

    async def __call__(self, message: dict[str, Any]) -> dict[str, Any] | None:
        if self._relay is not None:
            return await self._relay(message)
        if "id" in message:
            return jsonrpc.error_response(
                message["id"], METHOD_NOT_FOUND, "the client cannot receive requests"
            )
        return None


def _target_name(params: Mapping[str, Any] | None) -> str | None:
    """The tool or prompt name the upstream is asked for (its own name, not Giru's)."""
    name = (params or {}).get("name")
    return name[:128] if isinstance(name, str) else None


def _name_param(message: Message) -> str:
    name = (message.params or {}).get("name")
    if not isinstance(name, str):
        raise JsonRpcError(INVALID_PARAMS, "params.name must be a string")
    return name


def _tool_outcome(response: dict[str, Any]) -> str:
    result = response.get("result")
    return "tool_error" if isinstance(result, dict) and result.get("isError") else "ok"
