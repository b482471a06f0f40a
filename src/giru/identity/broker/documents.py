"""Client ID Metadata Documents: fetched with SSRF protection, size and time limits, cached.

`fetch_document` is the one place that reaches out, through `giru.egress` with the `PUBLIC`
policy: every address the host resolves to must be global (loopback too when tests allow it),
checked again at connect time; redirects are never followed; the body is cut at `max_bytes` and
the whole fetch at `timeout_s`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import orjson

from giru.egress import (
    PUBLIC,
    AddressPolicy,
    EgressRefusedError,
    egress_connector,
    egress_session,
)
from giru.identity.broker.clients import ClientRecord, is_document_url, parse_document
from giru.identity.broker.errors import OAuthError

__all__ = ["DocumentFetcher", "DocumentLimits", "fetch_document"]

_MAX_CACHED: Final = 1000


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    max_bytes: int = 5120
    timeout_s: float = 5.0
    cache_s: float = 300.0
    allow_loopback: bool = False
    """Tests only: documents served by 127.0.0.1, over http or over https with a certificate
    that is not checked (a test's self-signed one)."""


def _loopback_test(url: str, limits: DocumentLimits) -> bool:
    parts = urlsplit(url)
    return (
        limits.allow_loopback
        and parts.scheme in ("http", "https")
        and parts.hostname == "127.0.0.1"
        and parts.path not in ("", "/")
    )


async def fetch_document(url: str, limits: DocumentLimits) -> Any:
    """The JSON document at `url`; `OAuthError(invalid_client)` for anything else."""
    loopback_test = _loopback_test(url, limits)
    if not (is_document_url(url) or loopback_test):
        raise OAuthError("invalid_client", "client_id is not an https URL")
    policy = AddressPolicy(allow_loopback=True, allow_private=False) if loopback_test else PUBLIC
    connector = egress_connector(policy, ssl=False) if loopback_test else None
    timeout = aiohttp.ClientTimeout(total=limits.timeout_s)
    try:
        async with (
            egress_session(policy, connector=connector, timeout=timeout) as http,
            http.get(url, allow_redirects=False, headers={"Accept": "application/json"}) as reply,
        ):
            if reply.status != 200:
                raise OAuthError(
                    "invalid_client",
                    f"the client metadata document answered {reply.status} (redirects are "
                    "not followed)",
                )
            declared = reply.content_length
            if declared is not None and declared > limits.max_bytes:
                raise OAuthError("invalid_client", "the client metadata document is too large")
            body = await reply.content.read(limits.max_bytes + 1)
    except EgressRefusedError as exc:
        raise OAuthError(
            "invalid_client", "the client metadata document's address or redirect is refused"
        ) from exc
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise OAuthError(
            "invalid_client",
            f"the client metadata document cannot be fetched ({type(exc).__name__})",
        ) from exc
    if len(body) > limits.max_bytes:
        raise OAuthError("invalid_client", "the client metadata document is too large")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OAuthError("invalid_client", "the client metadata document is not JSON") from exc


class DocumentFetcher:
    """Clients named by metadata-document URLs, fetched and checked, cached `cache_s`."""

    def __init__(self, limits: DocumentLimits) -> None:
        self.limits = limits
        self._cache: dict[str, tuple[float, ClientRecord]] = {}

    def accepts(self, client_id: str) -> bool:
        return is_document_url(client_id) or _loopback_test(client_id, self.limits)

    async def client(self, url: str) -> ClientRecord:
        cached = self._cache.get(url)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        record = parse_document(url, await fetch_document(url, self.limits))
        if self.limits.cache_s > 0:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[url] = (now + self.limits.cache_s, record)
        return record
