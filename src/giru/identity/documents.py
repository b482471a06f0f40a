"""Fetching the JSON an identity provider publishes (discovery document, JWKS) or answers
(token introspection): the one place identity code makes an outbound HTTP request, over the
SSRF-guarded egress session the app hands in.

The URL is checked before the request (`issuer_url_problem`: https, no link-local or metadata
address); redirects are not followed; the answer must be JSON, at most `max_bytes`, within
`timeout_s`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import aiohttp
import orjson

from giru.manifests.urls import issuer_url_problem

__all__ = ["DocumentError", "FormPost", "JsonFetch", "http_fetch", "http_post"]

MAX_BYTES: Final = 256 * 1024

JsonFetch = Callable[[str], Awaitable[Any]]
"""Returns the JSON document at a URL, or raises `DocumentError`."""

FormPost = Callable[[str, Mapping[str, str], Mapping[str, str]], Awaitable[Any]]
"""`post(url, form, headers)`: the JSON answer to a form POST, or raises `DocumentError`."""


class DocumentError(Exception):
    """A document could not be fetched or is not JSON (the message says why, without secrets)."""


def http_fetch(
    session: aiohttp.ClientSession, *, timeout_s: float, max_bytes: int = MAX_BYTES
) -> JsonFetch:
    timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def fetch(url: str) -> Any:
        _check(url)
        try:
            async with session.get(
                url, timeout=timeout, allow_redirects=False, headers={"accept": "application/json"}
            ) as response:
                return await _json(url, response, max_bytes)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DocumentError(f"{url}: {type(exc).__name__}") from exc

    return fetch


def http_post(
    session: aiohttp.ClientSession, *, timeout_s: float, max_bytes: int = MAX_BYTES
) -> FormPost:
    """Like `http_fetch`, for a form POST (`application/x-www-form-urlencoded`)."""
    timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def post(url: str, form: Mapping[str, str], headers: Mapping[str, str]) -> Any:
        _check(url)
        try:
            async with session.post(
                url,
                data=dict(form),
                timeout=timeout,
                allow_redirects=False,
                headers={"accept": "application/json", **headers},
            ) as response:
                return await _json(url, response, max_bytes)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DocumentError(f"{url}: {type(exc).__name__}") from exc

    return post


def _check(url: str) -> None:
    reason = issuer_url_problem(url)
    if reason is not None:
        raise DocumentError(f"{url}: {reason}")


async def _json(url: str, response: aiohttp.ClientResponse, max_bytes: int) -> Any:
    """The body of a 200 answer as JSON, read while the response (and its timeout) is open."""
    if response.status != 200:
        raise DocumentError(f"{url} answered {response.status}")
    body = await response.content.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise DocumentError(f"{url}: larger than {max_bytes} bytes")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DocumentError(f"{url}: not JSON") from exc
