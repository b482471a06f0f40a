"""Fetching the JSON an identity provider publishes (discovery document, JWKS): the one place
identity code makes an outbound HTTP request, so the SSRF-guarded egress can replace it.

The URL is checked before the request (`issuer_url_problem`: https, no link-local or metadata
address); redirects are not followed; the answer must be JSON, at most `max_bytes`, within
`timeout_s`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

import aiohttp
import orjson

from giru.manifests.urls import issuer_url_problem

__all__ = ["DocumentError", "JsonFetch", "http_fetch"]

MAX_BYTES: Final = 256 * 1024

JsonFetch = Callable[[str], Awaitable[Any]]
"""Returns the JSON document at a URL, or raises `DocumentError`."""


class DocumentError(Exception):
    """A document could not be fetched or is not JSON (the message says why, without secrets)."""


def http_fetch(
    session: aiohttp.ClientSession, *, timeout_s: float, max_bytes: int = MAX_BYTES
) -> JsonFetch:
    timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def fetch(url: str) -> Any:
        reason = issuer_url_problem(url)
        if reason is not None:
            raise DocumentError(f"{url}: {reason}")
        try:
            async with session.get(
                url, timeout=timeout, allow_redirects=False, headers={"accept": "application/json"}
            ) as response:
                if response.status != 200:
                    raise DocumentError(f"{url} answered {response.status}")
                body = await response.content.read(max_bytes + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DocumentError(f"{url}: {type(exc).__name__}") from exc
        if len(body) > max_bytes:
            raise DocumentError(f"{url}: larger than {max_bytes} bytes")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise DocumentError(f"{url}: not JSON") from exc

    return fetch
