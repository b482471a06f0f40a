"""`subscriptions/listen` streams (2026-07-28): list-change notifications for modern clients."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, Final

import structlog

from giru.mcp import jsonrpc, versions
from giru.mcp.jsonrpc import Message
from giru.proxy.http import Request, Send, send_sse_event, send_sse_start

__all__ = ["ListenHub"]

_log = structlog.get_logger(__name__)
_FILTERS: Final = {
    "notifications/tools/list_changed": "toolsListChanged",
    "notifications/prompts/list_changed": "promptsListChanged",
    "notifications/resources/list_changed": "resourcesListChanged",
}
_QUEUE: Final = 64


@dataclass(eq=False)
class _Listener:
    client: str
    request_id: Any
    wants: frozenset[str]
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(_QUEUE))


class ListenHub:
    """Open listen streams; at most `max_per_client` per client (the oldest is closed, S13)."""

    def __init__(self, max_per_client: int = 8) -> None:
        self._listeners: list[_Listener] = []
        self._max_per_client = max_per_client

    def __len__(self) -> int:
        return len(self._listeners)

    async def serve(self, request: Request, send: Send, client: str, message: Message) -> None:
        wanted = (message.params or {}).get("notifications") or {}
        wants = frozenset(
            k for k in _FILTERS.values() if isinstance(wanted, dict) and wanted.get(k) is True
        )
        listener = _Listener(client=client, request_id=message.id, wants=wants)
        self._admit(listener)
        ack = {
            "jsonrpc": "2.0",
            "method": "notifications/subscriptions/acknowledged",
            "params": {
                "_meta": {versions.META_SUBSCRIPTION_ID: message.id},
                "notifications": {k: True for k in sorted(wants)},
            },
        }
        await send_sse_start(send)
        try:
            await send_sse_event(send, jsonrpc.dumps(ack))
            await self._pump(request, send, listener)
        finally:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

    def _admit(self, listener: _Listener) -> None:
        mine = [other for other in self._listeners if other.client == listener.client]
        if len(mine) >= self._max_per_client:
            oldest = mine[0]
            self._listeners.remove(oldest)
            with contextlib.suppress(asyncio.QueueFull):
                oldest.queue.put_nowait(None)
        self._listeners.append(listener)

    async def _pump(self, request: Request, send: Send, listener: _Listener) -> None:
        loop = asyncio.get_running_loop()
        gone = loop.create_task(request.wait_disconnect())
        try:
            while True:
                getter = loop.create_task(listener.queue.get())
                await asyncio.wait({getter, gone}, return_when=asyncio.FIRST_COMPLETED)
                if gone.done():
                    getter.cancel()
                    return
                data = getter.result()
                if data is None:
                    break
                await send_sse_event(send, data)
            end = {
                "resultType": "complete",
                "_meta": {versions.META_SUBSCRIPTION_ID: listener.request_id},
            }
            await send_sse_event(
                send, jsonrpc.dumps(jsonrpc.result_response(listener.request_id, end))
            )
            await send({"type": "http.response.body", "body": b""})
        finally:
            gone.cancel()
            await asyncio.gather(gone, return_exceptions=True)

    def publish(self, method: str) -> None:
        """Queue a list-change notification for every listener that asked for it."""
        wanted = _FILTERS.get(method)
        if wanted is None:
            return
        for listener in self._listeners:
            if wanted in listener.wants:
                note = {
                    "jsonrpc": "2.0",
                    "method": method,
                    "params": {"_meta": {versions.META_SUBSCRIPTION_ID: listener.request_id}},
                }
                try:
                    listener.queue.put_nowait(jsonrpc.dumps(note))
                except asyncio.QueueFull:
                    _log.warning("listen_queue_full", client=listener.client)

    def close_all(self) -> None:
        for listener in self._listeners:
            with contextlib.suppress(asyncio.QueueFull):
                listener.queue.put_nowait(None)
