"""Modern-era (2026-07-28) Streamable HTTP: stateless requests, `server/discover`, listen streams.

Every request carries its own version and capabilities in `params._meta`; there is no session.
Closing the response stream cancels the request. See docs/protocol/eras.md section 4.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

import orjson
import structlog

from giru.catalog.views import View
from giru.mcp import jsonrpc, versions
from giru.mcp.headers import (
    McpHeaders,
    validate_modern_notification,
    validate_modern_request,
    validate_param_headers,
)
from giru.mcp.jsonrpc import METHOD_NOT_FOUND, JsonRpcError, Message
from giru.mcp.versions import RequestEnvelope, missing_capability_error
from giru.proxy.context import CallContext, binding_of
from giru.proxy.dispatch import SERVER_INFO, Dispatcher
from giru.proxy.endpoints import Principal
from giru.proxy.envelopes import RefusedValueError
from giru.proxy.gate import SPOOL_REASONS
from giru.proxy.http import Request, Send, send_bytes, send_json, send_sse_event, send_sse_start
from giru.proxy.listen import ListenHub
from giru.proxy.mrtr import STATE_PREFIX, Ask, ParkedCalls, Run, required_capability
from giru.proxy.refusals import (
    POLICY_DENIED,
    POLICY_UNAVAILABLE,
    QUOTA_EXCEEDED,
    RATE_LIMITED,
    retry_after,
)
from giru.trust.refusals import TOOL_HELD

__all__ = ["ModernHttp"]

_log = structlog.get_logger(__name__)
_MODERN_METHODS: Final = frozenset(
    {
        "server/discover",
        "tools/list",
        "tools/call",
        "prompts/list",
        "prompts/get",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "completion/complete",
        "subscriptions/listen",
    }
)
_CACHEABLE: Final = frozenset(
    {"tools/list", "prompts/list", "resources/list", "resources/templates/list", "resources/read"}
)
_LIST_TTL_MS: Final = 60_000
_STATUS_BY_CODE: Final = {
    METHOD_NOT_FOUND: 404,
    versions.HEADER_MISMATCH: 400,
    versions.MISSING_REQUIRED_CLIENT_CAPABILITY: 400,
    versions.UNSUPPORTED_PROTOCOL_VERSION: 400,
    RATE_LIMITED: 429,
    QUOTA_EXCEEDED: 429,
    POLICY_DENIED: 403,
    POLICY_UNAVAILABLE: 503,
    TOOL_HELD: 403,
}


class ModernHttp:
    def __init__(
        self, dispatcher: Dispatcher, listens: ListenHub, *, worker: str | None = None
    ) -> None:
        self._dispatcher = dispatcher
        self._listens = listens
        self._parked = ParkedCalls(worker=worker)

    def close(self) -> None:
        self._parked.close()

    async def post(
        self,
        request: Request,
        send: Send,
        view: View,
        principal: Principal,
        message: Message,
        virtual_server: str | None = None,
    ) -> None:
        client = principal.name
        try:
            headers = McpHeaders.from_pairs(request.scope["headers"])
        except JsonRpcError as exc:  # the body parsed: answer with its id (H10, S9)
            exc.id = message.id
            raise
        if message.kind == "notification":
            validate_modern_notification(headers, message)
            await send_bytes(send, 202, b"", content_type=None)
            return
        if message.kind == "response":
            raise JsonRpcError(jsonrpc.INVALID_REQUEST, "a client must not post JSON-RPC responses")
        envelope = validate_modern_request(headers, message)
        method = message.method or ""
        if method not in _MODERN_METHODS:
            raise JsonRpcError(
                METHOD_NOT_FOUND, f"Method not found: {method[:64]}", id=message.id, http_status=404
            )
        if method == "server/discover":
            await send_json(send, 200, jsonrpc.result_response(message.id, _discover(view)))
            return
        if method == "subscriptions/listen":
            await self._listens.serve(request, send, client, message)
            return
        declared = view.tool_params.get(str((message.params or {}).get("name")))
        if method == "tools/call" and declared:
            arguments = (message.params or {}).get("arguments")
            validate_param_headers(declared, arguments, headers, id=message.id)
        ctx = CallContext(
            view=view,
            client=client,
            protocol_version=envelope.protocol_version,
            era="modern",
            principal=principal,
            virtual_server=virtual_server,
            declared=envelope.client_capabilities,
        )
        await self._call(request, send, ctx, message, envelope)

    async def _call(
        self,
        request: Request,
        send: Send,
        ctx: CallContext,
        message: Message,
        envelope: RequestEnvelope,
    ) -> None:
        state = (message.params or {}).get("requestState")
        if isinstance(state, str) and state.startswith(STATE_PREFIX):
            try:
                run = self._resume(_binding_text(ctx, message), message, state)
            except RefusedValueError as exc:  # audited like every other refused requestState
                refusal = await self._dispatcher.refusal(ctx, message, exc, exc.detail)
                await _answer(send, refusal, False)
                return
        else:
            run = self._start(ctx, message, envelope)
        waiting = asyncio.get_running_loop().create_task(request.wait_disconnect())
        parked = False
        try:
            parked = await self._respond(send, run, waiting, ctx, message)
        finally:
            waiting.cancel()
            if not parked:
                run.task.cancel()
            await asyncio.gather(waiting, return_exceptions=True)

    def _start(self, ctx: CallContext, message: Message, envelope: RequestEnvelope) -> Run:
        capabilities = envelope.client_capabilities
        holder: list[Run] = []

        async def relay(sent: dict[str, Any]) -> dict[str, Any] | None:
            run = holder[0]
            if "id" in sent:
                return await self._ask(run, sent, capabilities)
            if sent.get("method") == "notifications/message" and not _wanted_log(
                sent, envelope.log_level
            ):
                return None  # log messages only for requests that opted in, at their level
            await run.out.put(jsonrpc.dumps(sent))
            return None

        ctx.relay = relay
        task = asyncio.get_running_loop().create_task(self._dispatcher.dispatch(ctx, message))
        holder.append(Run(task=task))
        return holder[0]

    async def _ask(
        self, run: Run, request: dict[str, Any], capabilities: dict[str, Any]
    ) -> dict[str, Any]:
        """A legacy upstream asks the client: becomes `input_required` for the modern client."""
        method = str(request.get("method"))
        needed = required_capability(method)
        if method == "ping":
            return jsonrpc.result_response(request["id"], {})
        if needed is None:
            return jsonrpc.error_response(
                request["id"], METHOD_NOT_FOUND, f"the client does not support {method[:64]}"
            )
        if needed not in capabilities:  # S10: the client hears -32021; the call is cancelled
            await run.out.put(missing_capability_error({needed: {}}))
            await asyncio.get_running_loop().create_future()  # until the call is cancelled
        ask = Ask(self._parked.next_key(), request, asyncio.get_running_loop().create_future())
        run.asks[ask.key] = ask
        await run.out.put(ask)
        try:
            result = await ask.future
        finally:
            run.asks.pop(ask.key, None)
        return jsonrpc.result_response(request["id"], result)

    def _resume(self, binding: str, message: Message, state: str) -> Run:
        run = self._parked.resume(state, binding)
        answers = (message.params or {}).get("inputResponses")
        if not isinstance(answers, dict):
            answers = {}
        for key, ask in list(run.asks.items()):
            answer = answers.get(key)
            if isinstance(answer, dict) and not ask.future.done():
                ask.future.set_result(answer)
            elif not ask.future.done():
                run.out.put_nowait(ask)  # not answered: ask again
        return run

    async def _respond(
        self,
        send: Send,
        run: Run,
        waiting: asyncio.Task[None],
        ctx: CallContext,
        message: Message,
    ) -> bool:
        """Stream the run to the client; True when it was parked for the client's input (bound
        to this request's binding: a resumed run's was checked equal to its first one's)."""
        wakeup = _Wakeup()
        run.out.on_put = wakeup
        run.task.add_done_callback(wakeup)
        waiting.add_done_callback(wakeup)
        try:
            return await self._stream(send, run, waiting, wakeup, ctx, message)
        finally:
            run.out.on_put = None
            run.task.remove_done_callback(wakeup)
            waiting.remove_done_callback(wakeup)

    async def _stream(
        self,
        send: Send,
        run: Run,
        waiting: asyncio.Task[None],
        wakeup: _Wakeup,
        ctx: CallContext,
        message: Message,
    ) -> bool:
        """`_respond`'s loop: the client going away first, then what the run emitted, one item
        a turn, then its answer once it is done and has nothing more to emit."""
        streaming = False
        while True:
            if waiting.done():
                _log.info("modern_request_cancelled", method=message.method)  # close = cancel
                return False
            item = None if run.out.empty() else run.out.get_nowait()
            if item is None:
                if not run.task.done():
                    await wakeup.wait()
                    continue
                response = {**run.task.result(), "id": message.id}  # a retry has a new id
                await _answer(send, _finish(message, response), streaming)
                return False
            if isinstance(item, JsonRpcError):
                item.id = message.id
                await _answer(send, item.to_response(), streaming, status=item.http_status)
                return False
            if isinstance(item, Ask):
                state = self._parked.park(run, _binding_text(ctx, message))
                question = {
                    "method": item.request.get("method"),
                    "params": item.request.get("params"),
                }
                result = {
                    "resultType": "input_required",
                    "inputRequests": {item.key: question},
                    "requestState": state,
                }
                await _answer(send, jsonrpc.result_response(message.id, result), streaming)
                return True
            if not streaming:
                await send_sse_start(send)
                streaming = True
            await send_sse_event(send, item)


class _Wakeup:
    """The one future a response loop awaits at a time, set by an item put in the run's
    outbox, the run's end or the client going away (their callbacks)."""

    __slots__ = ("_future",)

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None

    def __call__(self, _: object = None) -> None:
        future = self._future
        if future is not None and not future.done():
            future.set_result(None)

    async def wait(self) -> None:
        self._future = asyncio.get_running_loop().create_future()
        try:
            await self._future
        finally:
            self._future = None


async def _answer(
    send: Send, response: dict[str, Any], streaming: bool, *, status: int | None = None
) -> None:
    if not streaming:
        wait = retry_after(response)
        headers = [(b"retry-after", wait)] if wait is not None else None
        await send_json(send, status or _status(response), response, headers=headers)
        return
    await send_sse_event(send, jsonrpc.dumps(response))
    with contextlib.suppress(OSError, RuntimeError):
        await send({"type": "http.response.body", "body": b""})


_LEVELS: Final = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


def _binding_text(ctx: CallContext, message: Message) -> str:
    """Who may resume a call parked for input: computed only when a call parks or resumes."""
    return orjson.dumps(binding_of(ctx, message).fields()).decode()


def _wanted_log(notification: dict[str, Any], log_level: str | None) -> bool:
    if log_level is None:
        return False
    level = (notification.get("params") or {}).get("level")
    if level not in _LEVELS:
        return True
    return _LEVELS.index(level) >= _LEVELS.index(log_level)


def _discover(view: View) -> dict[str, Any]:
    return {
        "resultType": "complete",
        "supportedVersions": list(versions.MODERN_VERSIONS),
        "capabilities": _modern_capabilities(view),
        "ttlMs": _LIST_TTL_MS,
        "cacheScope": "private",
        "_meta": {versions.META_SERVER_INFO: SERVER_INFO},
    }


def _modern_capabilities(view: View) -> dict[str, Any]:
    caps = {k: dict(v) for k, v in view.capabilities.items() if k != "logging"}
    if "resources" in caps:
        caps["resources"].pop("subscribe", None)
    return caps


def _finish(message: Message, response: dict[str, Any]) -> dict[str, Any]:
    """Shape a legacy-style answer as a modern one: resultType, caching hints, error codes."""
    error = response.get("error")
    if isinstance(error, dict):
        if error.get("code") == -32002:  # resource not found is -32602 in this era
            response = {**response, "error": {**error, "code": jsonrpc.INVALID_PARAMS}}
        return response
    result = response.get("result")
    if not isinstance(result, dict):
        return response
    # A legacy-era result that carries `inputRequests` is asking for input (SEP-2322).
    asking = "resultType" not in result and isinstance(result.get("inputRequests"), dict)
    result = {"resultType": "input_required" if asking else "complete", **result}
    if message.method in _CACHEABLE and result["resultType"] == "complete":
        result.setdefault("ttlMs", _LIST_TTL_MS if message.method != "resources/read" else 0)
        result.setdefault("cacheScope", "private")
    return {**response, "result": result}


def _status(response: dict[str, Any]) -> int:
    error = response.get("error")
    if not isinstance(error, dict):
        return 200
    code, data = error.get("code"), error.get("data")
    if isinstance(data, dict) and data.get("reason") in SPOOL_REASONS:
        return 503  # a spool cannot take the call's record (back-pressure)
    return _STATUS_BY_CODE.get(code, 200) if isinstance(code, int) else 200
