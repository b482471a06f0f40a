"""Modern-era (2026-07-28) Streamable HTTP: stateless requests, `server/discover`, listen streams.

Every request carries its own version and capabilities in `params._meta`; there is no session.
Closing the response stream cancels the request. See docs/protocol/eras.md section 4.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

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
from giru.proxy.dispatch import SERVER_INFO, CallContext, Dispatcher
from giru.proxy.http import Request, Send, send_bytes, send_json, send_sse_event, send_sse_start
from giru.proxy.listen import ListenHub

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
}


class ModernHttp:
    def __init__(self, dispatcher: Dispatcher, listens: ListenHub) -> None:
        self._dispatcher = dispatcher
        self._listens = listens

    async def post(
        self, request: Request, send: Send, view: View, client: str, message: Message
    ) -> None:
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
            view=view, client=client, protocol_version=envelope.protocol_version, era="modern"
        )
        await self._call(request, send, ctx, message, envelope.log_level)

    async def _call(
        self,
        request: Request,
        send: Send,
        ctx: CallContext,
        message: Message,
        log_level: str | None,
    ) -> None:
        events: asyncio.Queue[bytes] = asyncio.Queue(maxsize=256)

        async def relay(notification: dict[str, Any]) -> dict[str, Any] | None:
            if "id" in notification:  # no server->client requests in this era
                return jsonrpc.error_response(
                    notification["id"], METHOD_NOT_FOUND, "the client cannot receive requests"
                )
            if notification.get("method") == "notifications/message" and not _wanted_log(
                notification, log_level
            ):
                return None  # log messages only for requests that opted in, at their level
            await events.put(jsonrpc.dumps(notification))
            return None

        ctx.relay = relay
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._dispatcher.dispatch(ctx, message))
        waiting = loop.create_task(request.wait_disconnect())
        try:
            await self._respond(send, task, waiting, events, message)
        finally:
            for pending in (task, waiting):
                pending.cancel()
            await asyncio.gather(task, waiting, return_exceptions=True)

    async def _respond(
        self,
        send: Send,
        task: asyncio.Task[dict[str, Any]],
        waiting: asyncio.Task[None],
        events: asyncio.Queue[bytes],
        message: Message,
    ) -> None:
        first = asyncio.get_running_loop().create_task(events.get())
        try:
            await asyncio.wait({task, first, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            first.cancel()
        if waiting.done():
            _log.info("modern_request_cancelled", method=message.method)  # stream close = cancel
            return
        if task.done() and events.empty() and not (first.done() and not first.cancelled()):
            response = _finish(message, task.result())
            await send_json(send, _status(response), response)
            return
        await send_sse_start(send)
        if first.done() and not first.cancelled():
            await send_sse_event(send, first.result())
        while not task.done() or not events.empty():
            getter = asyncio.get_running_loop().create_task(events.get())
            await asyncio.wait({task, getter, waiting}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                await send_sse_event(send, getter.result())
            else:
                getter.cancel()
            if waiting.done():
                return
        await send_sse_event(send, jsonrpc.dumps(_finish(message, task.result())))
        with contextlib.suppress(OSError, RuntimeError):
            await send({"type": "http.response.body", "body": b""})


_LEVELS: Final = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


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
    result = {"resultType": "complete", **result}
    if message.method in _CACHEABLE and result["resultType"] == "complete":
        result.setdefault("ttlMs", _LIST_TTL_MS if message.method != "resources/read" else 0)
        result.setdefault("cacheScope", "private")
    return {**response, "result": result}


def _status(response: dict[str, Any]) -> int:
    error = response.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return _STATUS_BY_CODE.get(code, 200) if isinstance(code, int) else 200
