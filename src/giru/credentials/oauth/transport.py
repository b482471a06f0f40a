"""Bounded HTTP for OAuth: every request to an authorization server or for metadata goes
through Giru's SSRF-guarded egress session (`giru.egress`: refused addresses fail at connect
time, redirects are never followed), only to https URLs (plain http on loopback only, for
development), cut at `max_bytes` and at `timeout_s` for the whole exchange."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import orjson

from giru.credentials.oauth.challenge import BearerChallenge, parse_challenge
from giru.credentials.oauth.errors import OAuthError
from giru.egress import egress_refusal
from giru.manifests.urls import issuer_url_problem

__all__ = ["OAuthHttp", "Reply"]

_PROBE: Final = b'{"jsonrpc":"2.0","id":"giru-oauth-probe","method":"ping"}'


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer, read whole (at most `max_bytes`)."""

    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        """The body as JSON; `OAuthError` when it is not."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            kind = self.content_type or "no content type"
            raise OAuthError(f"the answer is not JSON ({kind})") from exc


class OAuthHttp:
    """GET/POST with limits over an egress-guarded `aiohttp.ClientSession` (not owned)."""

    def __init__(
        self, session: aiohttp.ClientSession, *, timeout_s: float = 10.0, max_bytes: int = 256_000
    ) -> None:
        self._session = session
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes

    async def get(self, url: str) -> Reply:
        return await self._exchange("GET", url, None, {"Accept": "application/json"})

    async def post_form(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> Reply:
        head = {"Accept": "application/json", **(headers or {})}
        return await self._exchange("POST", url, aiohttp.FormData(dict(form)), head)

    async def challenge(self, server_url: str) -> BearerChallenge | None:
        """The `Bearer` challenge the MCP server at `server_url` answers an unauthenticated
        request with (None when it answers without one)."""
        headers = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        }
        reply = await self._exchange("POST", server_url, _PROBE, headers, check_url=False)
        if reply.status not in (401, 403):
            return None
        return parse_challenge(reply.headers.get("WWW-Authenticate"))

    async def _exchange(
        self,
        method: str,
        url: str,
        data: Any,
        headers: Mapping[str, str],
        *,
        check_url: bool = True,
    ) -> Reply:
        reason = issuer_url_problem(url) if check_url else None
        if reason is not None:
            raise OAuthError(f"{url}: {reason}")
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with self._session.request(
                method,
                url,
                data=data,
                headers=dict(headers),
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                body = await response.content.read(self.max_bytes + 1)
                status, content_type = response.status, response.content_type
                answer_headers = response.headers  # case-insensitive lookups
        except TimeoutError as exc:
            raise OAuthError(f"{url}: no answer within {self.timeout_s:g} s") from exc
        except (aiohttp.ClientError, OSError) as exc:
            refused = egress_refusal(exc)
            if refused is not None:
                raise OAuthError(f"{url}: refused by the egress guard: {refused.reason}") from exc
            raise OAuthError(f"{url}: {type(exc).__name__}") from exc
        if len(body) > self.max_bytes:
            raise OAuthError(f"{url}: the answer is larger than {self.max_bytes} bytes")
        return Reply(status, content_type, body, answer_headers)
