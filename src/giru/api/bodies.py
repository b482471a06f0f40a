"""Request bodies of the REST API: JSON only (415) and at most `limit` bytes (413).

A pure ASGI middleware: a declared `Content-Length` over the limit is refused before anything is
read; a chunked body is counted as it arrives and refused as soon as it passes the limit.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from giru.api.problems import problem_response

__all__ = ["MAX_BODY_BYTES", "BodyGuard", "is_json"]

MAX_BODY_BYTES = 1024 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def is_json(content_type: str | None) -> bool:
    """Whether `content_type` is `application/json` or `application/<something>+json`."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


class BodyGuard:
    """Refuses request bodies that are not JSON or larger than `limit` bytes (problem+json)."""

    def __init__(self, app: ASGIApp, *, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = _content_length(headers.get("content-length"))
        if declared is not None and declared > self.limit:
            await self._refuse(scope, receive, send, 413)
            return
        has_body = bool(declared) or (declared is None and "transfer-encoding" in headers)
        if has_body and not is_json(headers.get("content-type")):
            await self._refuse(scope, receive, send, 415)
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # FastAPI re-raises HTTPException from body reads; problems.py renders it.
                    raise HTTPException(413, self._too_large())
            return message

        return counted

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int) -> None:
        if status == 413:
            response = problem_response(413, "body_too_large", self._too_large())
        else:
            detail = "request bodies must be JSON (Content-Type: application/json)"
            response = problem_response(415, "unsupported_media_type", detail)
        await response(scope, receive, send)

    def _too_large(self) -> str:
        return f"the request body is larger than {self.limit} bytes"


def _content_length(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value)
