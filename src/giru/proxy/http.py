"""Minimal pure-ASGI request/response plumbing for the data path (no framework per message)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import orjson

from giru.mcp import jsonrpc, sse

__all__ = [
    "BodyTooLargeError",
    "Receive",
    "Request",
    "Scope",
    "Send",
    "send_bytes",
    "send_json",
    "send_rpc_error",
    "send_sse_event",
    "send_sse_start",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_TYPE: Final = b"application/json"


class BodyTooLargeError(Exception):
    """The request body exceeded the configured limit (answered with 413)."""


class Request:
    """The parts of an HTTP request the data path reads; header names are lower-case."""

    __slots__ = ("headers", "method", "path", "query", "receive", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query: bytes = scope.get("query_string", b"")
        headers: dict[str, str] = {}
        repeated: dict[str, list[str]] = {}
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1").strip(" \t")
            if name in headers:  # joined once at the end: linear in the number of lines
                repeated.setdefault(name, [headers[name]]).append(value)
            else:
                headers[name] = value
        for name, values in repeated.items():
            headers[name] = ", ".join(values)
        self.headers = headers

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    async def wait_disconnect(self) -> None:
        """Return when the client goes away (the body must have been read already)."""
        while (await self.receive())["type"] != "http.disconnect":
            pass

    async def body(self, limit: int) -> bytes:
        """The whole body, refused with `BodyTooLargeError` as soon as it passes `limit` bytes."""
        length = self.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise BodyTooLargeError
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLargeError
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


SSE_HEADERS: Final = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]


async def send_sse_start(send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})


async def send_sse_event(send: Send, data: bytes, *, event_id: str | None = None) -> None:
    body = sse.encode_event(data, event="message", id=event_id)
    await send({"type": "http.response.body", "body": body, "more_body": True})


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    *,
    content_type: bytes | None = JSON_TYPE,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    raw_headers = list(headers or [])
    if content_type is not None:
        raw_headers.append((b"content-type", content_type))
    raw_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send,
    status: int,
    value: Any,
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send_bytes(send, status, orjson.dumps(value), headers=headers)


async def send_rpc_error(
    send: Send,
    status: int,
    code: int,
    message: str,
    *,
    id: Any = None,
    data: dict[str, Any] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send_json(send, status, jsonrpc.error_response(id, code, message, data), headers=headers)
