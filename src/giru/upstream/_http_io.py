"""HTTP reading shared by the HTTP connectors: capped bodies, SSE event streams, status errors,
and the errors for failed exchanges (an egress refusal or a redirect says so)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

from giru.egress import RedirectRefusedError, egress_refusal, parse_target
from giru.egress.lean import LeanResponse
from giru.errors import UpstreamError, UpstreamProtocolError, UpstreamUnavailableError
from giru.upstream._calls import unavailable
from giru.upstream._sse import SseDecoder, SseEvent, SseTooLargeError
from giru.upstream._wire import MAX_MESSAGE_BYTES, digest, protocol_error

__all__ = [
    "exchange_error",
    "iter_events",
    "media_type",
    "read_capped",
    "resolve_endpoint",
    "status_error",
]

_MAX_CHALLENGE: Final = 2048


def media_type(response: LeanResponse) -> str:
    return response.content_type


async def read_capped(server: str, response: LeanResponse, cap: int = MAX_MESSAGE_BYTES) -> bytes:
    """The whole body, or `UpstreamProtocolError` past `cap` bytes (nothing unbounded)."""
    length = response.content_length
    if length is not None:
        if length > cap:
            raise protocol_error(server, "upstream body exceeds the size limit")
        return await response.read()  # the parser stops at Content-Length
    body = bytearray()
    async for chunk in response.iter_chunks():
        body += chunk
        if len(body) > cap:
            raise protocol_error(server, "upstream body exceeds the size limit", bytes(body))
    return bytes(body)


async def iter_events(
    server: str, response: LeanResponse, decoder: SseDecoder
) -> AsyncIterator[SseEvent]:
    """Decode an SSE body incrementally; bad bytes become `UpstreamProtocolError`."""
    async for chunk in response.iter_chunks():
        try:
            events = decoder.feed(chunk)
        except (SseTooLargeError, UnicodeDecodeError) as exc:
            raise protocol_error(server, "invalid SSE stream from upstream", chunk) from exc
        for event in events:
            yield event


async def status_error(server: str, response: LeanResponse) -> UpstreamError:
    """The error for an HTTP answer that carries no usable JSON-RPC message."""
    try:
        body = await read_capped(server, response, cap=64 * 1024)
    except (UpstreamError, OSError):
        body = b""
    data = {"reason": "upstream_http_status", "status": response.status, **digest(body)}
    if response.status in (401, 403):
        data["reason"] = "upstream_auth_failed"
        challenge = response.headers.get("WWW-Authenticate")
        if challenge:  # what the credential lacks (step-up on insufficient_scope)
            data["challenge"] = challenge[:_MAX_CHALLENGE]
        return UpstreamUnavailableError(
            server, "upstream refused the gateway's credentials", data=data
        )
    if response.status >= 500 or response.status in (404, 408, 429):
        return UpstreamUnavailableError(
            server, f"upstream answered HTTP {response.status}", data=data
        )
    if 300 <= response.status < 400:
        return _redirect_error(server, response.status, data)
    data["reason"] = "upstream_protocol_error"
    return UpstreamProtocolError(
        server, f"unexpected HTTP {response.status} from upstream", data=data
    )


def exchange_error(server: str, exc: BaseException, message: str) -> UpstreamError:
    """The error for a failed HTTP exchange (`HttpError`, timeout): `message`,
    unless the egress guard refused the connection or the upstream answered a redirect."""
    refused = egress_refusal(exc)
    if isinstance(refused, RedirectRefusedError):
        data: dict[str, Any] = {"location": refused.location[:256]}
        return _redirect_error(server, refused.status, data)
    if refused is not None:
        return UpstreamUnavailableError(
            server,
            f"connection to upstream refused by the egress guard: {refused.reason}",
            data={"reason": "egress_refused"},
        )
    return unavailable(server, message, error=type(exc).__name__)


def _redirect_error(server: str, status: int, data: dict[str, Any]) -> UpstreamProtocolError:
    return UpstreamProtocolError(
        server,
        f"upstream answered HTTP {status} (a redirect); Giru does not follow upstream redirects",
        data={**data, "reason": "upstream_redirect", "status": status},
    )


def resolve_endpoint(server: str, base: str, reference: str) -> str:
    """Resolve an SSE `endpoint` against the stream URL; another origin is refused (SSRF).

    Origins are compared as the HTTP client will connect (normalized host, default port)."""
    target = urljoin(base, reference.strip())
    try:
        same = parse_target(base).origin == parse_target(target).origin
    except ValueError as exc:
        raise protocol_error(server, "upstream SSE endpoint is not a valid URL") from exc
    if not same or urlsplit(target).username is not None:
        raise protocol_error(server, "upstream SSE endpoint is on another origin")
    return target
