"""CORS for browser-based MCP clients (the MCP Inspector): the MCP endpoints, the OAuth
discovery documents and the OAuth endpoints a client calls from script (token, registration,
revocation, JWKS) answer preflights and name the allowed origin in their responses.

An origin is allowed when `HttpGuard` allows it (`GIRU_HTTP__ALLOWED_ORIGINS`, loopback origins,
origins on `GIRU_HTTP__ALLOWED_HOSTS`): the same decision as the Origin check of the MCP
endpoints, so a browser can read exactly the answers Giru is willing to give it. The answer names
that one origin (never `*`) and never allows credentials (cookies): MCP clients send their token
in `Authorization`. A disallowed origin gets no CORS headers at all (a preflight goes on to the
app, which refuses or ignores it). The sign-in pages (`/oauth/authorize`, consent, the IdP
callback) are navigations, not script calls: never CORS.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from giru.proxy.checks import HttpGuard
from giru.proxy.http import Receive, Scope, Send

__all__ = ["EXPOSED", "Cors", "cors_path"]

App = Callable[[Scope, Receive, Send], Awaitable[None]]

EXPOSED: Final = (
    b"WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version, Giru-Request-Id, Retry-After"
)
_METHODS: Final = b"GET, POST, DELETE, OPTIONS"
_DEFAULT_HEADERS: Final = (
    b"Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Mcp-Method, "
    b"Mcp-Name, Last-Event-ID"
)
_HEADER_LIST: Final = re.compile(
    rb"[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*"
)
_MAX_REQUESTED: Final = 1024
_MAX_AGE: Final = b"600"
_OAUTH_PATHS: Final = frozenset(
    {"/oauth/token", "/oauth/register", "/oauth/revoke", "/oauth/jwks.json"}
)
_WELL_KNOWN: Final = (
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
)


def cors_path(path: str) -> bool:
    """Whether the answers at `path` carry CORS headers for an allowed origin."""
    return (
        path in ("/mcp", "/sse", "/messages")
        or path.startswith(("/mcp/", *_WELL_KNOWN))
        or path in _OAUTH_PATHS
    )


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


class Cors:
    """Wraps the app for the paths of `cors_path` (see the module docstring)."""

    def __init__(self, guard: HttpGuard) -> None:
        self._guard = guard

    def allowed_origin(self, scope: Scope) -> bytes | None:
        """The Origin of a request at a `cors_path` when the guard allows it, else None (then
        the request goes to the app as it is)."""
        if scope["type"] != "http" or not cors_path(scope.get("path", "")):
            return None
        raw = _header(scope, b"origin")
        if raw is None or not self._guard.origin_allowed(raw.decode("latin-1")):
            return None
        return raw

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, app: App, raw: bytes
    ) -> None:
        """Answer a request whose origin `raw` is allowed (`allowed_origin`): a preflight here,
        anything else by `app` with the CORS headers added to its answer."""
        allowed = (b"access-control-allow-origin", raw)
        if scope.get("method") == "OPTIONS" and _header(scope, b"access-control-request-method"):
            await _preflight(scope, send, allowed)
            return

        async def send_with_cors(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", ())
                    if not bytes(k).lower().startswith(b"access-control-")
                ]
                headers += [
                    allowed,
                    (b"vary", b"Origin"),
                    (b"access-control-expose-headers", EXPOSED),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_cors)


async def _preflight(scope: Scope, send: Send, allowed: tuple[bytes, bytes]) -> None:
    requested = _header(scope, b"access-control-request-headers")
    fits = requested is not None and len(requested) <= _MAX_REQUESTED
    headers = requested if fits and requested and _HEADER_LIST.fullmatch(requested) else None
    await send(
        {
            "type": "http.response.start",
            "status": 204,
            "headers": [
                allowed,
                (b"vary", b"Origin, Access-Control-Request-Headers"),
                (b"access-control-allow-methods", _METHODS),
                (b"access-control-allow-headers", headers or _DEFAULT_HEADERS),
                (b"access-control-max-age", _MAX_AGE),
                (b"content-length", b"0"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})
