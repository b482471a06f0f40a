"""`TokenSet`: what a token endpoint issued, and how its answer is read (RFC 6749 §5.1/§5.2).

A token without `expires_in` is taken to live `DEFAULT_LIFETIME_S` (five minutes: short enough
that a token the server revokes early is not used long, long enough not to hammer the server);
an upstream's 401 drops a cached token earlier. Token values never appear in `repr`, logs or
error messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from giru.credentials.oauth.errors import TokenEndpointError
from giru.credentials.oauth.transport import Reply

__all__ = ["DEFAULT_LIFETIME_S", "TokenSet", "read_token_reply"]

DEFAULT_LIFETIME_S: Final = 300.0
_MAX_LIFETIME_S: Final = 366 * 24 * 3600.0
_TOKEN_TYPES: Final = frozenset({"bearer", "n_a"})


@dataclass(frozen=True, slots=True)
class TokenSet:
    """Tokens from one token response. Times are wall-clock seconds (`time.time()`), so a set
    stored by one worker means the same to another."""

    access_token: str = field(repr=False)
    obtained_at: float
    expires_at: float
    refresh_token: str | None = field(default=None, repr=False)
    scope: tuple[str, ...] = ()
    issued_token_type: str | None = None
    expires_in_given: bool = True
    """False when the server sent no `expires_in` (`DEFAULT_LIFETIME_S` was assumed)."""

    def fresh(self, now: float, margin_s: float) -> bool:
        """Usable without a refresh: more than the refresh margin left, the margin being
        `margin_s` or a fifth of the lifetime, whichever is shorter."""
        lifetime = self.expires_at - self.obtained_at
        return self.expires_at - min(margin_s, lifetime / 5) > now

    def usable(self, now: float) -> bool:
        return self.expires_at > now

    def dumps(self) -> bytes:
        """JSON for storage (it holds the tokens: seal it)."""
        return orjson.dumps(
            {
                "access_token": self.access_token,
                "obtained_at": self.obtained_at,
                "expires_at": self.expires_at,
                "refresh_token": self.refresh_token,
                "scope": list(self.scope),
                "issued_token_type": self.issued_token_type,
                "expires_in_given": self.expires_in_given,
            }
        )

    @classmethod
    def loads(cls, data: bytes) -> TokenSet:
        value = orjson.loads(data)
        return cls(
            access_token=value["access_token"],
            obtained_at=float(value["obtained_at"]),
            expires_at=float(value["expires_at"]),
            refresh_token=value.get("refresh_token"),
            scope=tuple(value.get("scope") or ()),
            issued_token_type=value.get("issued_token_type"),
            expires_in_given=bool(value.get("expires_in_given", True)),
        )


def read_token_reply(
    reply: Reply, now: float, *, previous_refresh: str | None = None, url: str = ""
) -> TokenSet:
    """The tokens in a token endpoint's answer, or `TokenEndpointError` saying what is wrong
    with it. A refresh answer without a new `refresh_token` keeps `previous_refresh`."""
    if reply.status >= 500:
        raise TokenEndpointError(f"token endpoint {url} failed (HTTP {reply.status})", status=500)
    document = _json_object(reply, url)
    if reply.status != 200 or "error" in document:
        error = document.get("error")
        code = error if isinstance(error, str) else None
        described = document.get("error_description")
        detail = f": {described[:200]}" if isinstance(described, str) else ""
        raise TokenEndpointError(
            f"token endpoint {url} refused: {code or 'no error code'} "
            f"(HTTP {reply.status}){detail}",
            error=code,
            status=reply.status,
        )
    access = document.get("access_token")
    if not isinstance(access, str) or not access:
        raise TokenEndpointError(f"token endpoint {url} answered without an access_token")
    token_type = document.get("token_type")
    if isinstance(token_type, str) and token_type.lower() not in _TOKEN_TYPES:
        raise TokenEndpointError(
            f"token endpoint {url} issued a {token_type!r} token; Giru sends Bearer tokens only"
        )
    lifetime, given = _lifetime(document.get("expires_in"))
    refresh = document.get("refresh_token")
    scope = document.get("scope")
    issued = document.get("issued_token_type")
    return TokenSet(
        access_token=access,
        obtained_at=now,
        expires_at=now + lifetime,
        refresh_token=refresh if isinstance(refresh, str) and refresh else previous_refresh,
        scope=tuple(scope.split()) if isinstance(scope, str) else (),
        issued_token_type=issued if isinstance(issued, str) else None,
        expires_in_given=given,
    )


def _json_object(reply: Reply, url: str) -> dict[str, Any]:
    try:
        document = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        kind = reply.content_type or "no content type"
        raise TokenEndpointError(
            f"token endpoint {url} answered HTTP {reply.status} with {kind}, not JSON",
            status=reply.status,
        ) from None
    if not isinstance(document, dict):
        raise TokenEndpointError(f"token endpoint {url} answered JSON that is not an object")
    return document


def _lifetime(value: Any) -> tuple[float, bool]:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return DEFAULT_LIFETIME_S, False
    try:
        seconds = float(value)
    except ValueError:
        return DEFAULT_LIFETIME_S, False
    if not 0 < seconds <= _MAX_LIFETIME_S:
        return DEFAULT_LIFETIME_S, False
    return seconds, True
