"""Correlation of one upstream's traffic: our own ids, progress, deadlines, cancellation, relay.

Transport-agnostic: a connector hands every message it reads to `Exchange.deliver` and gives
`Exchange.request` a `transmit` coroutine that puts one request on the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import structlog

from giru.errors import UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError
from giru.mcp.jsonrpc import INTERNAL_ERROR, Message, error_response, id_key, result_response
from giru.upstream._tasks import TaskSet
from giru.upstream.base import MessageSink, Timeouts

__all__ = ["Call", "Exchange", "Send", "Transmit", "unavailable"]

_log = structlog.get_logger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
_CANCEL_BUDGET: Final = 2.0
_NOT_CANCELLABLE: Final = frozenset({"initialize", "server/discover"})


@dataclass(eq=False, slots=True)
class Call:
    """One request in flight upstream; `id` is ours, `caller_token` the caller's progress token."""

    id: int
    method: str
    on_message: MessageSink | None
    caller_token: Any
    future: asyncio.Future[dict[str, Any]]
    idle: float
    deadline: float
    timer: asyncio.Timeout | None = None
    sent: bool = False

    def touch(self) -> None:
        """Activity for this call (progress): push the idle deadline, never past the maximum."""
        if self.timer is not None and not self.future.done():
            now = asyncio.get_running_loop().time()
            self.timer.reschedule(min(now + self.idle, self.deadline))


Transmit = Callable[[Call, dict[str, Any]], Awaitable[None]]


class Exchange:
    """Pending calls of one upstream session and the routing of what the upstream sends back."""

    def __init__(
        self,
        server: str,
        timeouts: Timeouts,
        *,
        on_unsolicited: MessageSink,
        send: Send,
        tasks: TaskSet,
    ) -> None:
        self.server = server
        self.timeouts = timeouts
        self.cancel_by_notification = True
        self._on_unsolicited = on_unsolicited
        self._send = send
        self._tasks = tasks
        self._next_id = 0
        self._calls: dict[int, Call] = {}
        self._answering: dict[bytes, asyncio.Task[None]] = {}

    @property
    def in_flight(self) -> int:
        return len(self._calls)

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None,
        *,
        on_message: MessageSink | None,
        timeout: float | None,  # noqa: ASYNC109 -- an idle timeout that progress resets
        transmit: Transmit,
    ) -> dict[str, Any]:
        """Send one request through `transmit` and wait for its response under the deadlines."""
        call, message = self._open(method, params, on_message, timeout)
        try:
            await transmit(call, message)
            call.sent = True
            return await self._wait(call)
        except TimeoutError as exc:
            await self._cancel_upstream(call, "timeout")
            raise UpstreamTimeoutError(
                self.server,
                f"upstream did not answer {method} in time",
                data={"reason": "upstream_timeout", "method": method},
            ) from exc
        except asyncio.CancelledError:
            if call.sent and not self._tasks.closed:
                # Shielded by ownership: the session's task set runs it, bounded, after we unwind.
                self._tasks.spawn(self._cancel_upstream(call, "cancelled by client"), "cancel")
            raise
        finally:
            self._close(call)

    def fail_all(self, exc: UpstreamError) -> None:
        """Fail every call in flight (the transport broke); nothing is re-sent."""
        for call in list(self._calls.values()):
            if not call.future.done():
                call.future.set_exception(exc)

    async def deliver(self, message: Message, via: Call | None = None) -> None:
        """Route one message read from the upstream. `via`: the call whose stream carried it."""
        if message.kind == "response":
            self._on_response(message, via)
        elif message.kind == "notification":
            await self._on_notification(message, via)
        else:
            self._on_peer_request(message, via)

    def response_for(self, call: Call, message: Message) -> bool:
        return message.kind == "response" and _is_our_id(message.id, call.id)

    # -- outbound -----------------------------------------------------------------------------

    def _open(
        self,
        method: str,
        params: dict[str, Any] | None,
        on_message: MessageSink | None,
        timeout: float | None,
    ) -> tuple[Call, dict[str, Any]]:
        self._next_id += 1
        call_id = self._next_id
        loop = asyncio.get_running_loop()
        params, caller_token = _with_progress_token(params, call_id)
        idle = timeout if timeout is not None else self.timeouts.call
        call = Call(
            id=call_id,
            method=method,
            on_message=on_message,
            caller_token=caller_token,
            future=loop.create_future(),
            idle=idle,
            deadline=loop.time() + max(self.timeouts.call_max, 0.0),
        )
        self._calls[call_id] = call
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": call_id, "method": method}
        if params is not None:
            message["params"] = params
        return call, message

    async def _wait(self, call: Call) -> dict[str, Any]:
        now = asyncio.get_running_loop().time()
        async with asyncio.timeout_at(min(now + call.idle, call.deadline)) as timer:
            call.timer = timer
            return await call.future

    def _close(self, call: Call) -> None:
        self._calls.pop(call.id, None)
        call.timer = None
        if not call.future.done():
            call.future.cancel()
        elif not call.future.cancelled():
            call.future.exception()  # mark retrieved: the caller already saw it or gave up

    async def _cancel_upstream(self, call: Call, reason: str) -> None:
        if not (call.sent and self.cancel_by_notification) or call.method in _NOT_CANCELLABLE:
            return
        notice = {
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": {"requestId": call.id, "reason": reason},
        }
        await self._send_bounded(notice, "notifications/cancelled")

    async def _send_bounded(self, message: dict[str, Any], what: str) -> None:
        try:
            async with asyncio.timeout(_CANCEL_BUDGET):
                await self._send(message)
        except (TimeoutError, UpstreamError) as exc:
            _log.warning(
                "could not send to upstream", server=self.server, what=what, error=str(exc)
            )

    # -- inbound ------------------------------------------------------------------------------

    def _on_response(self, message: Message, via: Call | None) -> None:
        call = self._lookup(message.id)
        reason = None
        if call is None:
            reason = "unknown or duplicate id"
        elif via is not None and via is not call:
            reason = "response on another request's stream"
        elif call.future.done():
            reason = "duplicate response"
        if call is None or reason is not None:
            _log.warning(
                "dropped upstream response",
                server=self.server,
                id=repr(message.id)[:80],
                reason=reason,
            )
            return
        call.future.set_result(message.raw)

    async def _on_notification(self, message: Message, via: Call | None) -> None:
        if message.method == "notifications/progress":
            await self._on_progress(message)
            return
        if message.method == "notifications/cancelled":
            self._on_peer_cancelled(message)
            return
        target = via
        if target is None and message.method == "notifications/message":
            target = self._only_call()
        sink = target.on_message if target is not None and target.on_message else None
        await self._to_sink(sink or self._on_unsolicited, message.raw)

    async def _on_progress(self, message: Message) -> None:
        token = (message.params or {}).get("progressToken")
        call = self._lookup(token)
        if call is None:
            _log.info("dropped progress for no call", server=self.server, token=repr(token)[:80])
            return
        call.touch()
        if call.on_message is None or call.caller_token is None:
            return
        params = dict(message.params or {})
        params["progressToken"] = call.caller_token
        await self._to_sink(call.on_message, {**message.raw, "params": params})

    def _on_peer_cancelled(self, message: Message) -> None:
        request_id = (message.params or {}).get("requestId")
        task = self._answering.get(_key(request_id))
        if task is not None:
            task.cancel()

    def _on_peer_request(self, message: Message, via: Call | None) -> None:
        key = message.id_key
        if key in self._answering:
            _log.warning("dropped duplicate upstream request id", server=self.server)
            return
        if message.method == "ping":
            self._tasks.spawn(self._send_bounded(result_response(message.id, {}), "pong"), "pong")
            return
        target = via if via is not None else self._only_call()
        sink = target.on_message if target is not None and target.on_message else None
        task = self._tasks.spawn(
            self._answer(message, sink or self._on_unsolicited, target), f"answer:{message.method}"
        )
        self._answering[key] = task
        task.add_done_callback(lambda _: self._answering.pop(key, None))

    async def _answer(self, message: Message, sink: MessageSink, target: Call | None) -> None:
        reply = await self._to_sink(sink, message.raw)
        if target is not None:
            target.touch()
        await self._send_bounded(_reply(message.id, reply), f"reply to {message.method}")

    async def _to_sink(self, sink: MessageSink, raw: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return await sink(raw)
        except Exception:  # noqa: BLE001 -- boundary: a bad sink must not stop the reader
            _log.exception("message sink failed", server=self.server, method=raw.get("method"))
            return None

    def _lookup(self, value: Any) -> Call | None:
        return self._calls.get(value) if _is_int(value) else None

    def _only_call(self) -> Call | None:
        """The single call in flight with a client behind it, if there is exactly one.

        Stdio and SSE carry no relation, so a server's request goes to the one caller that can
        answer it; Giru's own requests (list refreshes, health pings: no `on_message`) in flight
        at the same moment do not make that ambiguous. Two callers do: nobody is asked.
        """
        found: Call | None = None
        for call in self._calls.values():
            if call.on_message is not None:
                if found is not None:
                    return None
                found = call
        return found


def _reply(request_id: Any, reply: dict[str, Any] | None) -> dict[str, Any]:
    if reply is not None and "result" in reply:
        return result_response(request_id, reply["result"])
    if reply is not None and isinstance(reply.get("error"), dict):
        return {"jsonrpc": "2.0", "id": request_id, "error": reply["error"]}
    return error_response(request_id, INTERNAL_ERROR, "the gateway could not handle this request")


def _with_progress_token(
    params: dict[str, Any] | None, call_id: int
) -> tuple[dict[str, Any] | None, Any]:
    """Replace the caller's progress token with our id: tokens from many clients cannot collide."""
    meta = params.get("_meta") if params is not None else None
    if params is None or not isinstance(meta, dict) or "progressToken" not in meta:
        return params, None
    caller_token = meta["progressToken"]
    return {**params, "_meta": {**meta, "progressToken": call_id}}, caller_token


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_our_id(value: Any, call_id: int) -> bool:
    return _is_int(value) and value == call_id


def _key(value: Any) -> bytes:
    return id_key(value)


def unavailable(server: str, message: str, **data: Any) -> UpstreamUnavailableError:
    return UpstreamUnavailableError(
        server, message, data={"reason": "upstream_unavailable", **data}
    )
