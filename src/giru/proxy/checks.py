"""HTTP-level guards run before any MCP processing (BAD-INPUT 3.1): Origin, Host, media types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from giru.mcp.jsonrpc import INVALID_REQUEST, JsonRpcError
from giru.proxy.http import Request

__all__ = ["HttpGuard", "check_post_media"]

_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})


def _hostname(value: str) -> str:
    """`host[:port]` or `[v6]:port` -> host, lower-case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


@dataclass(frozen=True, slots=True)
class HttpGuard:
    """Origin and Host allow-lists: on a loopback listener only loopback names are accepted."""

    loopback: bool
    allowed_hosts: frozenset[str] = frozenset()
    allowed_origins: frozenset[str] = frozenset()

    def check(self, request: Request) -> None:
        """Raise `JsonRpcError` with HTTP 403 for a foreign Origin or Host (H1, H2)."""
        origin = request.header("origin")
        if origin is not None and not self.origin_allowed(origin):
            raise JsonRpcError(INVALID_REQUEST, "Forbidden: Origin not allowed", http_status=403)
        host = request.header("host")
        if self.loopback and host is not None and not self._host_allowed(host):
            raise JsonRpcError(INVALID_REQUEST, "Forbidden: Host not allowed", http_status=403)

    def _host_allowed(self, host: str) -> bool:
        name = _hostname(host)
        return name in _LOOPBACK_HOSTS or name in self.allowed_hosts

    def origin_allowed(self, origin: str) -> bool:
        """Whether a browser page from `origin` may use Giru (the Origin check, and CORS)."""
        if "*" in self.allowed_origins or origin in self.allowed_origins:
            return True
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        return parts.hostname in _LOOPBACK_HOSTS or parts.hostname in self.allowed_hosts


def check_post_media(request: Request, *, need_sse: bool = True) -> None:
    """POST bodies are JSON (415 otherwise, H3) and clients accept JSON and SSE (400, H4)."""
    content_type = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        raise JsonRpcError(
            INVALID_REQUEST, "Unsupported Media Type: use application/json", http_status=415
        )
    if not need_sse:
        return
    accept = (request.header("accept") or "").lower()
    if not _accepts(accept, "application/json") or not _accepts(accept, "text/event-stream"):
        raise JsonRpcError(
            INVALID_REQUEST,
            "Not Acceptable: Accept must list application/json and text/event-stream",
            http_status=400,
        )


def _accepts(accept: str, media: str) -> bool:
    major = media.split("/", 1)[0]
    for item in accept.split(","):
        kind = item.split(";", 1)[0].strip()
        if kind in (media, f"{major}/*", "*/*"):
            return True
    return False
